"""An independent encoder: GNU ``as`` on generated ``.cfi_*`` directives.

:func:`write_assembly` turns a :class:`SectionModel` into a ``.s`` file: one
function per FDE, made of nops of the model's length, with the directives
that produce the model's rows placed at the right offsets (each spelled in a
randomly chosen equivalent way: ``.cfi_def_cfa`` or ``.cfi_def_cfa_register``
+ ``.cfi_def_cfa_offset`` or ``.cfi_adjust_cfa_offset``; ``.cfi_offset`` or
``.cfi_rel_offset``; ``.cfi_escape`` for expressions; remember/restore).
The assembler chooses its own factors (caf=1, daf=-8) and encodings.
"""

from __future__ import annotations

import random
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from ..cfi.encoding import encode_uleb128
from ..cfi.rules import CFARule, Rule, RuleKind
from .model import ENTRY_CFA, ENTRY_REGS, SectionModel

_GAS_NAMES = ("%rax", "%rdx", "%rcx", "%rbx", "%rsi", "%rdi", "%rbp", "%rsp",
              "%r8", "%r9", "%r10", "%r11", "%r12", "%r13", "%r14", "%r15", "%rip")


@dataclass
class Assembly:
    """The source text and the expressions it carries, in file order (for llvm-dwarfdump)."""

    text: str
    expressions: list[bytes] = field(default_factory=list)


def _reg(reg: int, rng: random.Random) -> str:
    return _GAS_NAMES[reg] if reg <= 16 and rng.random() < 0.5 else str(reg)


def _escape(data: bytes) -> str:
    return ".cfi_escape " + ", ".join(f"{b:#x}" for b in data)


def _cfa(cur: CFARule, tgt: CFARule, rng: random.Random, out: list[str], exprs: list[bytes]) -> None:
    if tgt.expression is not None:
        if cur.expression != tgt.expression:
            out.append(_escape(bytes([0x0F]) + encode_uleb128(len(tgt.expression)) + tgt.expression))
            exprs.append(tgt.expression)
        return
    if cur.expression is None and (cur.register, cur.offset) == (tgt.register, tgt.offset):
        return
    r = _reg(tgt.register, rng)
    if cur.expression is None and cur.register == tgt.register:
        out.append(rng.choice([f".cfi_def_cfa_offset {tgt.offset}",
                               f".cfi_adjust_cfa_offset {tgt.offset - cur.offset}",
                               f".cfi_def_cfa {r}, {tgt.offset}"]))
    elif cur.expression is None and cur.offset == tgt.offset and rng.random() < 0.5:
        out.append(f".cfi_def_cfa_register {r}")
    else:
        out.append(f".cfi_def_cfa {r}, {tgt.offset}")


def _rule(reg: int, tgt: Rule | None, cfa: CFARule, rng: random.Random, out: list[str], exprs: list[bytes]) -> None:
    r = _reg(reg, rng)
    if tgt is None or tgt == ENTRY_REGS.get(reg):
        out.append(f".cfi_restore {r}")
        return
    kind = tgt.kind
    if kind == RuleKind.OFFSET:
        n = int(tgt.arg)
        if cfa.expression is None and rng.random() < 0.4:
            out.append(f".cfi_rel_offset {r}, {n + cfa.offset}")  # relative to the CFA register
        else:
            out.append(f".cfi_offset {r}, {n}")
    elif kind == RuleKind.VAL_OFFSET:
        out.append(f".cfi_val_offset {r}, {int(tgt.arg)}")
    elif kind == RuleKind.REGISTER:
        out.append(f".cfi_register {r}, {_reg(int(tgt.arg), rng)}")
    elif kind == RuleKind.SAME_VALUE:
        out.append(f".cfi_same_value {r}")
    elif kind == RuleKind.UNDEFINED:
        out.append(f".cfi_undefined {r}")
    else:
        expr = bytes(tgt.arg)
        op = 0x10 if kind == RuleKind.EXPRESSION else 0x16
        out.append(_escape(bytes([op]) + encode_uleb128(reg) + encode_uleb128(len(expr)) + expr))
        exprs.append(expr)


def write_assembly(model: SectionModel, rng: random.Random) -> Assembly:
    """A ``.s`` file whose CFI, assembled, has the rows of ``model`` (relative to each function)."""
    lines = ["\t.text"]
    exprs: list[bytes] = []
    if not model.is_eh:
        lines.append("\t.cfi_sections .debug_frame")
    pc = model.text_address
    for i, fde in enumerate(model.fdes):
        cie = model.cies[fde.cie]
        if fde.pc_begin > pc:
            lines.append(f"\t.skip {fde.pc_begin - pc}, 0x90")
        lines += [f"\t.globl f{i}", f"\t.type f{i}, @function", f"f{i}:", "\t.cfi_startproc"]
        if cie.signal_frame:
            lines.append("\t.cfi_signal_frame")
        cur_cfa, cur_regs = ENTRY_CFA, dict(ENTRY_REGS)
        stack: list[tuple[CFARule, dict[int, Rule]]] = []
        loc = 0
        for row in fde.rows:
            if row.loc > loc:
                if rng.random() < 0.2:
                    lines.append("\t.cfi_remember_state")
                    stack.append((cur_cfa, dict(cur_regs)))
                lines.append(f"\t.skip {row.loc - loc}, 0x90")
                loc = row.loc
                if stack and rng.random() < 0.4:
                    lines.append("\t.cfi_restore_state")
                    cur_cfa, cur_regs = stack.pop()
            out: list[str] = []
            parts = ["cfa"] + sorted(set(cur_regs) | set(row.rules))
            rng.shuffle(parts)
            cfa_now = cur_cfa
            for part in parts:
                if part == "cfa":
                    _cfa(cur_cfa, row.cfa, rng, out, exprs)
                    cfa_now = row.cfa
                elif isinstance(part, int) and cur_regs.get(part) != row.rules.get(part):
                    _rule(part, row.rules.get(part), cfa_now, rng, out, exprs)
            lines += ["\t" + o for o in out]
            cur_cfa, cur_regs = row.cfa, row.rules
        lines.append(f"\t.skip {fde.pc_range - loc}, 0x90")
        lines += ["\t.cfi_endproc", f"\t.size f{i}, . - f{i}"]
        pc = fde.pc_begin + fde.pc_range
    return Assembly("\n".join(lines) + "\n", exprs)


def gas_path() -> str | None:
    """GNU as, or None when it is not installed."""
    return shutil.which("as")


def assemble(source: str, workdir: Path, name: str = "fuzz") -> Path:
    """Assemble ``source`` with ``as --64``; the object's path. Raises RuntimeError with as's message."""
    src = workdir / f"{name}.s"
    obj = workdir / f"{name}.o"
    src.write_text(source)
    p = subprocess.run([gas_path() or "as", "--64", "-o", str(obj), str(src)], capture_output=True, text=True,
                       timeout=60)
    if p.returncode != 0:
        raise RuntimeError(f"as failed:\n{p.stderr}\n--- source ---\n{source}")
    return obj
