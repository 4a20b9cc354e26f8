"""`python -m wgslgrad` and the `wgslgrad` command. Ctrl-C at any moment, the imports included, exits with
status 130 and one line."""
import os
import signal
import sys


def run() -> None:
    interrupted: list[int] = []

    def on_sigint(signum: int, frame: object) -> None:
        interrupted.append(signum)
        raise KeyboardInterrupt

    default_hook = sys.unraisablehook

    def on_unraisable(u: "sys.UnraisableHookArgs") -> None:
        if u.exc_type is not None and issubclass(u.exc_type, KeyboardInterrupt):
            # The Ctrl-C landed where Python cannot raise (a weakref callback of the import system): it would
            # be ignored and the command would go on as if it had never been pressed.
            print("wgslgrad: interrupted", file=sys.stderr, flush=True)
            os._exit(130)
        default_hook(u)

    # A Ctrl-C inside a C extension's import (numpy's, wgpu's) can come out as an ImportError, and a library
    # may turn it into its own error: whatever ends the command after a Ctrl-C counts as the Ctrl-C.
    signal.signal(signal.SIGINT, on_sigint)
    sys.unraisablehook = on_unraisable
    try:
        from .cli import main
        code = main()
    except SystemExit:
        raise
    except BaseException:
        if not interrupted:
            raise
        code = 1
    if interrupted and code not in (0, 130):
        print("wgslgrad: interrupted", file=sys.stderr)
        code = 130
    sys.exit(code)


if __name__ == "__main__":
    run()
