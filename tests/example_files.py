"""The files of examples/: model specs (parsed, never executed) and Python scripts, told apart by what only a
script can hold (an import: a spec is refused if it has one), so a new example needs no list updated."""
import re
from pathlib import Path

EXAMPLES_DIR = Path(__file__).resolve().parent.parent / "examples"
_IMPORT = re.compile(r"^(import|from)\s", re.MULTILINE)


def is_script(path: Path) -> bool:
    return bool(_IMPORT.search(path.read_text()))


EXAMPLES = sorted(EXAMPLES_DIR.glob("*.py"))
SCRIPTS = [p for p in EXAMPLES if is_script(p)]
SPECS = [p for p in EXAMPLES if not is_script(p)]
