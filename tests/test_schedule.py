import pytest

from wgslgrad.runtime.schedule import Constant, ReduceOnPlateau, StepDecay, parse_schedule


def test_step_decay_halves_every_n_epochs():
    s = parse_schedule("step:2:0.5", 0.1)
    assert isinstance(s, StepDecay)
    assert [round(s.next(1.0), 6) for _ in range(5)] == [0.1, 0.05, 0.05, 0.025, 0.025]


def test_plateau_reduces_after_patience_and_resets():
    s = parse_schedule("plateau:2:0.1", 1.0)
    assert isinstance(s, ReduceOnPlateau)
    rates = [s.next(loss) for loss in [5.0, 4.0, 4.0, 4.0, 3.0, 3.5, 3.5]]
    assert rates == pytest.approx([1.0, 1.0, 1.0, 0.1, 0.1, 0.1, 0.01])


def test_constant_and_errors():
    assert isinstance(parse_schedule(None, 0.01), Constant)
    assert parse_schedule("none", 0.01).next(1.0) == 0.01
    for bad in ["step", "step:x", "cosine:3", "plateau:0"]:
        with pytest.raises(ValueError, match="schedule"):
            parse_schedule(bad, 0.01)
