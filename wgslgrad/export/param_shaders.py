"""Kernels that differ only in numbers share one shader, its numbers read from a small uniform block.

    share(texts) -> (shaders, uses)

A Program's kernels of one template differ mostly in their sizes and buffer offsets: landmark68's 134
training kernels (without workgroup tiles) have 25 skeletons. Every distinct WGSL text is a pipeline to
compile, about 70 ms each on SwiftShader; the bundle's runtime compiles one shader per group instead and binds
each kernel's numbers as a uniform `nums: array<vec4<u32>, n>` after the kernel's own bindings.

Which numbers become uniform reads: those that differ inside a group of shaders with one skeleton, where the
shader's meaning allows a run-time value and (per `divisors`, below) speed does not suffer. Kept as written
(the group split by their values): numbers in an attribute (@workgroup_size, @binding), an array's length, a
literal without a suffix whose type the surrounding expression does not tell (WGSL's abstract ints take the
other operand's type; `_operand_type()` reads it from the operand's declaration), and by default a divisor
or modulus (`i / 56u`: a division by a constant is a multiply and a shift, by a uniform a real division in
every thread). With divisors="tight" (what bundles use) in loops and helper functions only offsets become
reads: bounds and strides there stay constants the compiler folds ("lean": divisors outside loops are read
too; "cold": every number outside loops and helpers; True: every divisor).
A module-scope `const` whose value becomes a read is inlined at each use (a `const` in a function becomes a
`let`); each read is copied once into a private variable at main's start.

The text is generated WGSL (export/bundle.py strips comments first), not arbitrary WGSL: a shader whose
numbers cannot all be placed keeps its own text, so the result is correct whenever it compiles, and the bundle
tests compile and run every example's shaders in Node and Chromium.
"""
from __future__ import annotations

import re
import struct
from collections import defaultdict
from dataclasses import dataclass

# A WGSL numeric literal (hex, float, int with an optional suffix), not part of a name (vec4, acc0_1).
LITERAL = re.compile(r"(?<![\w.])(0[xX][0-9a-fA-F]+[iu]?|(?:\d+\.\d*|\.\d+)(?:[eE][+-]?\d+)?[fh]?"
                     r"|\d+[eE][+-]?\d+[fh]?|\d+[iuf]?)(?![\w.])")
_IDENT = re.compile(r"[A-Za-z_]\w*")
_DECL = re.compile(r"\b(let|var|const)\s+([A-Za-z_]\w*)\s*(?::\s*([\w<>, ]+?))?\s*=\s*([^;]*);")
_PARAM = re.compile(r"([A-Za-z_]\w*)\s*:\s*(u32|i32|f32)\b")
_CAST = re.compile(r"(u32|i32|f32)\s*\($")
_SCALARS = ("u32", "i32", "f32")
NUMS = "nums"


@dataclass(frozen=True)
class Use:
    """How one input shader runs: the shader (index into share()'s list) and its uniform values (u32 bits;
    empty when the shader is the input's own text)."""
    shader: int
    nums: tuple[int, ...]


def _suffix_type(lit: str) -> str | None:
    if lit.endswith("u"):
        return "u32"
    if lit.endswith("i"):
        return "i32"
    if lit.startswith(("0x", "0X")):
        return None
    if lit.endswith(("f", "h")) or "." in lit or "e" in lit or "E" in lit:
        return "f32" if not lit.endswith("h") else None
    return None   # abstract int


def _bits(lit: str, kind: str) -> int:
    """The literal's value as the u32 bits a uniform holds for a value of type `kind`."""
    text = lit.rstrip("uif") if kind != "f32" else lit.rstrip("f")
    if kind == "f32":
        return struct.unpack("<I", struct.pack("<f", float(text)))[0]
    value = int(text, 0)
    return value & 0xFFFFFFFF


def _types(text: str) -> dict[str, str | None]:
    """name -> scalar type of every let/var/const/parameter whose type the declaration shows (None when two
    declarations of one name disagree or it cannot be told)."""
    found: dict[str, str | None] = {}

    def note(name: str, kind: str | None) -> None:
        found[name] = kind if found.get(name, kind) == kind else None

    for name, kind in _PARAM.findall(text):
        note(name, kind)
    for _, name, declared, init in _DECL.findall(text):
        if declared and declared.strip() in _SCALARS:
            note(name, declared.strip())
            continue
        note(name, _first_type(init.strip(), found))
    return found


def _first_type(expr: str, types: dict[str, str | None]) -> str | None:
    """The type of an expression told by its first operand: a cast, a suffixed literal or a typed name."""
    expr = expr.lstrip("(- ")
    cast = re.match(r"(u32|i32|f32)\s*\(", expr)
    if cast:
        return cast.group(1)
    lit = LITERAL.match(expr)
    if lit:
        return _suffix_type(lit.group(0))
    name = _IDENT.match(expr)
    if name and not expr[name.end():].lstrip().startswith(("(", "[", ".")):
        return types.get(name.group(0))
    if name and name.group(0) in ("min", "max", "clamp", "select", "abs"):
        return _first_type(expr[expr.index("(") + 1:], types)
    return None


_BINARY = ("<=", ">=", "==", "!=", "<", ">", "+", "-", "*", "&", "|", "^", "=")


def _operand_type(text: str, start: int, end: int, types: dict[str, str | None]) -> str | None:
    """The type an abstract int literal at text[start:end] takes: that of the other operand of its binary
    operator (or of min/max/clamp's first argument); None when not evident."""
    left = text[:start].rstrip()
    if left.endswith("-") and left[:-1].rstrip().endswith((*_BINARY, "(", ",")):
        return "i32"   # unary minus: a signed value
    for op in _BINARY:
        if left.endswith(op):
            operand = left[: -len(op)].rstrip()
            if operand.endswith(")"):
                depth, i = 0, len(operand) - 1
                while i >= 0:
                    depth += {")": 1, "(": -1}.get(operand[i], 0)
                    if depth == 0:
                        break
                    i -= 1
                cast = _CAST.search(operand[:i + 1])
                if cast:
                    return cast.group(1)
                if re.search(r"[A-Za-z_]\w*\s*$", operand[:i]):
                    return None   # a call: its result's type is not evident
                return _first_type(operand[i + 1:], types)
            name = re.search(r"([A-Za-z_]\w*)$", operand)
            if name:
                return types.get(name.group(1))
            lit = re.search(r"(\S+)$", operand)
            return _suffix_type(lit.group(1)) if lit and LITERAL.fullmatch(lit.group(1)) else None
    right = text[end:].lstrip()
    for op in _BINARY:
        if right.startswith(op) and not right.startswith(op + "="):
            return _first_type(right[len(op):].strip(), types)
    if left.endswith(","):
        depth, i = 0, len(left) - 1
        while i >= 0:
            depth += {")": 1, "(": -1}.get(left[i], 0)
            if depth < 0:
                break
            i -= 1
        call = re.search(r"(min|max|clamp)\s*$", left[:i])
        if call:
            return _first_type(left[i + 1:], types)
    return None


def _in_loop(text: str, start: int) -> bool:
    """Whether `start` lies in a loop (header or body) or in a function other than main (the helpers are
    called from loops): code that runs many times per thread."""
    fn = text.rfind("\nfn ", 0, start)
    if fn < 0 or not text.startswith("\nfn main", fn):
        return True
    if re.match(r"\s*(for|while)\b", text[text.rfind("\n", 0, start) + 1:start]):
        return True   # a loop's header: its condition and step run every iteration
    stack: list[bool] = []
    for m in re.finditer(r"[{}]", text[fn:start]):
        if m.group(0) == "}":
            stack.pop()
            continue
        at = fn + m.start()
        line = text[text.rfind("\n", 0, at) + 1:at].strip()
        stack.append(re.match(r"(for|while|loop)\b", line) is not None)
    return any(stack)


def _is_offset(text: str, start: int) -> bool:
    """Whether a literal at `start` is an offset added first in an index: `arena[123u + i]`, `return 123u +`,
    `i32(123u + b * ...)`, `let wbase = 123u + c` (one add of a loop-invariant value)."""
    lit = LITERAL.match(text, start)
    before = text[:start].rstrip()
    return (lit is not None and text[lit.end():].lstrip().startswith("+")
            and before.endswith(("[", "(", "=", "return")))


def _fixed_context(text: str, start: int, divisors: bool | str = False) -> bool:
    """Whether a literal at `start` must stay a constant: in an attribute, an array's length, a case, or
    the right operand of / or % (a division by a constant is a multiply and a shift, by a uniform a real
    division in every thread) unless `divisors` allows it: True: all; "cold": those outside loops and helpers;
    "lean": those too, and in loops and helpers only offsets are read; "tight": no divisor, and in loops and
    helpers only offsets."""
    line = text[text.rfind("\n", 0, start) + 1:start]
    if re.search(r"@\w+\s*\([^)]*$", line) or re.search(r"array<[^>]*$", line) or "case" in line:
        return True
    if divisors in ("lean", "tight") and _in_loop(text, start) and not _is_offset(text, start):
        return True
    if not line.rstrip().endswith(("/", "%")):
        return False
    return divisors in (False, "tight") or (divisors in ("cold", "lean") and _in_loop(text, start))


def _const_decls(text: str) -> list[tuple[str, int, int, int, int, bool]]:
    """(name, start, end, init_start, init_end, module_scope) of each `const` declaration."""
    out = []
    for m in re.finditer(r"\bconst\s+([A-Za-z_]\w*)\s*(?::\s*[\w<>, ]+?)?\s*=\s*([^;]*);", text):
        depth = text.count("{", 0, m.start()) - text.count("}", 0, m.start())
        out.append((m.group(1), m.start(), m.end(), m.start(2), m.end(2), depth == 0))
    return out


def _plan(text: str, divisors: bool | str = False) -> list[str | None]:
    """Per literal of `text`: the type a uniform read of it would have, None where it must stay a constant."""
    spans = [m.span() for m in LITERAL.finditer(text)]
    types = _types(text)
    consts = _const_decls(text)
    # consts that must stay constant: used in a constant context (array length, attribute)
    pinned = set()
    for name, *_ in consts:
        for use in re.finditer(rf"(?<![\w.]){name}\b", text):
            if _fixed_context(text, use.start(), divisors):
                pinned.add(name)
    names = {c[0] for c in consts}
    changed = True
    while changed:   # what a pinned const's initializer names is pinned too
        changed = False
        for name, _, _, a, b, _ in consts:
            if name in pinned:
                for other in set(_IDENT.findall(text[a:b])) & names - pinned:
                    pinned.add(other)
                    changed = True
    kinds: list[str | None] = []
    for a, b in spans:
        decl = next((c for c in consts if c[3] <= a < c[4]), None)
        if decl is not None and decl[0] in pinned:
            kinds.append(None)
            continue
        if _fixed_context(text, a, divisors):
            kinds.append(None)
            continue
        lit = text[a:b]
        kind = _suffix_type(lit) or (None if lit.startswith(("0x", "0X")) else _operand_type(text, a, b, types))
        if kind is None and decl is not None:   # `const X: u32 = 5;`: the declared type
            declared = re.search(r":\s*(u32|i32|f32)", text[decl[1]:decl[3]])
            kind = declared.group(1) if declared else None
        kinds.append(kind)
    return kinds


def _render(text: str, spans: list[tuple[int, int]], reads: dict[int, int], kinds: list[str], bindings: int) -> str:
    """text with the literal at span i (for i in reads) replaced by a read of slot reads[i], of type
    kinds[slot]; consts whose value is now read turned into lets (in a function) or inlined (module scope).
    Each slot is copied once, at main's start, into a private variable (and a `let` in main): loops and the
    helpers then use a value the compiler keeps in a register (a read of the uniform in a loop is a load per
    iteration where the compiler cannot prove that no store aliases it)."""
    out, at = [], 0
    for i, (a, b) in enumerate(spans):
        if i in reads:
            out += [text[at:a], f"{NUMS}{reads[i]}"]
            at = b
    out.append(text[at:])
    new = "".join(out)
    while True:   # consts whose value is now read at run time (or built from one)
        consts = [c for c in _const_decls(new) if re.search(rf"\b{NUMS}\d", new[c[3]:c[4]])]
        if not consts:
            break
        name, start, end, a, b, module = consts[0]
        init = new[a:b].strip()
        if module:
            body = new[:start] + new[end:].lstrip("\n")
            new = re.sub(rf"(?<![\w.]){name}\b", f"({init})", body)
        else:
            new = new[:start] + "let" + new[start + len("const"):]
    main = new.index("\nfn main(")
    end = new.find("\nfn ", main + 1)   # main runs to the next function or the end, as _in_loop takes it
    end = len(new) if end < 0 else end
    used = {int(n) for n in re.findall(rf"\b{NUMS}(\d+)\b", new[main:end])}               # by main
    helpers = {int(n) for n in re.findall(rf"\b{NUMS}(\d+)\b", new[:main] + new[end:])}  # by helper functions
    lines = new.split("\n")
    last_binding = max((j for j, line in enumerate(lines) if line.startswith("@group(")), default=-1)
    lines[last_binding + 1:last_binding + 1] = [
        f"@group(0) @binding({bindings}) var<uniform> {NUMS}: array<vec4<u32>, {(len(kinds) + 3) // 4}>;",
        *(f"var<private> {NUMS}{slot}: {kind};" for slot, kind in enumerate(kinds) if slot in helpers)]
    new = "\n".join(lines)
    body = new.index("{", new.index("\nfn main(")) + 1
    reads = [f"{NUMS}[{slot // 4}].{'xyzw'[slot % 4]}" for slot in range(len(kinds))]
    reads = [r if kind == "u32" else f"bitcast<{kind}>({r})" for r, kind in zip(reads, kinds)]
    # a private copy for the helpers that read a slot; in main a `let` (of the same name, shadowing it): a value
    # read from a uniform, which WGSL's uniformity analysis (Tint's) accepts before a barrier, as it would not a
    # private's
    copies = "".join(f"\n    {NUMS}{slot} = {r};" for slot, r in enumerate(reads) if slot in helpers)
    copies += "".join(f"\n    let {NUMS}{slot} = {r};" for slot, r in enumerate(reads) if slot in used)
    return new[:body] + copies + new[body:]


def share(texts: list[str], bindings: list[int], divisors: bool | str = False) -> tuple[list[str], list[Use]]:
    """Shaders that differ only in numbers, merged: returns the distinct shaders to compile and, per input
    text, its Use. bindings[i]: how many bindings text i declares (its uniform goes at that index).

    Within a group of one skeleton every number that varies and may be read at run time is read, in every
    shader of the group (the same slot for numbers that vary together), so the group's shaders differ only
    in the numbers that must stay constant: one shader per distinct set of those, all of one skeleton."""
    groups: dict[tuple[str, int], list[int]] = defaultdict(list)
    for i, t in enumerate(texts):
        groups[(LITERAL.sub("#", t), bindings[i])].append(i)
    shaders: list[str] = []
    uses: list[Use | None] = [None] * len(texts)
    for (_, nbind), members in groups.items():
        kinds = _plan(texts[members[0]], divisors) if len(members) > 1 else []
        lits = {i: [m.group(0) for m in LITERAL.finditer(texts[i])] for i in members}
        columns = list(zip(*(lits[i] for i in members)))
        slot_of: dict[tuple[str, tuple[int, ...]], int] = {}
        reads: dict[int, int] = {}
        for j, kind in enumerate(kinds):
            if kind is not None and len(set(columns[j])) > 1:
                reads[j] = slot_of.setdefault((kind, tuple(_bits(v, kind) for v in columns[j])), len(slot_of))
        if not reads:   # one shader, or none of the numbers that differ may be read at run time
            for i in members:
                uses[i] = Use(len(shaders), ())
                shaders.append(texts[i])
            continue
        made: dict[str, int] = {}
        for n, i in enumerate(members):
            own = texts[i]   # its own constants
            shader = _render(own, [m.span() for m in LITERAL.finditer(own)], reads, [k for k, _ in slot_of], nbind)
            if shader not in made:
                made[shader] = len(shaders)
                shaders.append(shader)
            values = [0] * len(slot_of)
            for (_, col), slot in slot_of.items():
                values[slot] = col[n]
            uses[i] = Use(made[shader], tuple(values))
    assert all(u is not None for u in uses)
    return shaders, uses  # type: ignore[return-value]
