"""`python -m wgslgrad` and the `wgslgrad` command. Ctrl-C at any moment, the imports included, exits with
status 130 and one line (main() handles it once the command line module is imported)."""
import sys


def run() -> None:
    try:
        from .cli import main
        code = main()
    except KeyboardInterrupt:
        print("wgslgrad: interrupted", file=sys.stderr)
        code = 130
    sys.exit(code)


if __name__ == "__main__":
    run()
