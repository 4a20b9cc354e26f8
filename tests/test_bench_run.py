"""`wgslgrad bench`: rows, the table and the JSON file, on the digits example with tiny step counts."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from wgslgrad.bench.run import Row, bench, format_table, main

DIGITS = Path(__file__).resolve().parent.parent / "examples" / "digits.py"


def test_table_formats_missing_values() -> None:
    rows = [Row("m", 1, "wgslgrad (x)", 2.0, 500.0, 1.0, 2**20, 12, 30.0, 40.0, 1.0),
            Row("m", 1, "torch", 4.0, 250.0, speedup=2.0)]
    lines = format_table(rows).splitlines()
    assert lines[0].split()[:3] == ["model", "batch", "backend"]
    assert "1.0" in lines[1] and "12" in lines[1]          # 1 MiB, 12 dispatches
    assert lines[2].split()[-1] == "2.00" and " - " in lines[2]


def test_torch_peer_rows() -> None:
    pytest.importorskip("torch", reason="PyTorch is not installed (pip install torch==2.13.0)")
    rows = bench(DIGITS, batches=[1, 2], steps=1, warmup=1, infer_steps=1, peers=["torch"], wgslgrad=False,
                 torch_threads=1)
    assert [r.batch for r in rows] == [1, 2]
    for r in rows:
        assert r.train_ms is not None and r.infer_ms is not None
        assert r.backend.startswith("torch") and r.train_ms > 0 and r.infer_ms > 0
        assert r.images_per_s == pytest.approx(r.batch * 1e3 / r.train_ms)


@pytest.mark.gpu
def test_bench_cli_with_wgslgrad(device: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "rows.json"
    assert main([str(DIGITS), "--batch", "2", "--steps", "2", "--warmup", "1", "--infer-steps", "2",
                 "--peers", "", "-o", str(out)]) == 0
    table = capsys.readouterr().out
    assert "wgslgrad" in table
    rows = json.loads(out.read_text())
    assert len(rows) == 1 and rows[0]["batch"] == 2 and rows[0]["speedup"] == 1.0
    assert rows[0]["dispatches"] > 0 and rows[0]["gpu_bytes"] > 0 and rows[0]["pipeline_ms"] >= 0


@pytest.mark.gpu
def test_wgslgrad_bench_command_takes_a_list_of_batches(device: Any, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    from wgslgrad.cli import main as cli
    out = tmp_path / "rows.json"
    assert cli(["bench", str(DIGITS), "--batch", "1,3", "--steps", "1", "--warmup", "1", "--infer-steps", "1",
                "--peers", "", "-o", str(out)]) == 0
    assert [r["batch"] for r in json.loads(out.read_text())] == [1, 3]
    with pytest.raises(SystemExit) as exit_:
        cli(["bench", str(DIGITS), "--batch", "0"])
    assert exit_.value.code == 2 and "--batch expects positive batch sizes" in capsys.readouterr().err


@pytest.mark.gpu
def test_bench_unfused_peer_and_profile(device: Any, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(DIGITS), "--batch", "2", "--steps", "1", "--warmup", "1", "--infer-steps", "1",
                 "--peers", "unfused,scalar", "--profile"]) == 0
    out = capsys.readouterr().out
    table, by_op, slowest = out.split("\n\n")[0], out.split("\n\n")[2], out.split("\n\n")[3]
    fused, unfused, scalar = (line.split() for line in table.splitlines()[1:4])
    assert fused[2] == "wgslgrad" and unfused[2:4] == ["wgslgrad", "unfused"] and scalar[2:4] == ["wgslgrad", "scalar"]
    assert int(fused[-4]) < int(unfused[-4])            # dispatches per step: conv+relu and dense+relu are one each
    assert int(fused[-4]) == int(scalar[-4])            # vec4 loads change no kernel count
    ops = {line.split()[0]: int(line.split()[1]) for line in by_op.splitlines()[1:]}
    assert ops["conv2d"] == 2 and ops["adam"] == 1 and "relu" not in ops
    assert slowest.splitlines()[0] == "slowest kernels" and len(slowest.splitlines()) == 2 + 10


def test_bench_on_a_spec_without_a_loss_says_what_to_use(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A detector (no Train) was a ValueError traceback from lower(training=True)."""
    from wgslgrad.cli import main as cli
    spec = tmp_path / "detector.py"
    spec.write_text("x = Input(8, 8, 3)\nOutput(conv2d(x, 4))\n")
    with pytest.raises(SystemExit) as exit_:
        cli(["bench", str(spec), "--batch", "1", "--peers", "", "--max-binding", "1GiB"])
    assert exit_.value.code == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and f"wgslgrad: error: {spec} has no Train(loss=...): bench times training steps; " \
        "time its inference with --node or --browser and --infer-only, or a training step there with --loss mse" in err
