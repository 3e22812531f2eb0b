"""Oracle: llvm-dwarfdump's (14) listing of CFA instructions.

``llvm-dwarfdump --debug-frame FILE`` (in LLVM 14 ``--eh-frame`` is an alias of
the same option and both sections are dumped; passing both is an error) prints
for every CIE/FDE its instructions, one per line::

    00000018 0000004c 0000001c FDE cie=00000000 pc=00401000...00401009
      Format:       DWARF32
      DW_CFA_advance_loc: 1
      DW_CFA_expression: RBX DW_OP_breg7 RSP+8, DW_OP_deref
      DW_CFA_def_cfa_expression: DW_OP_breg7 RSP+8, DW_OP_breg16 RIP+0, ...

We use it for the spelling of DWARF expressions (DW_CFA_expression,
DW_CFA_val_expression, DW_CFA_def_cfa_expression).  LLVM 14 stops with
``error: invalid extended CFI opcode 0x2f`` on DW_CFA_GNU_negative_offset_extended.
"""
from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass, field

EXPR_OPS = ("DW_CFA_expression", "DW_CFA_val_expression", "DW_CFA_def_cfa_expression")


def llvm_dwarfdump_path() -> str | None:
    return shutil.which("llvm-dwarfdump") or shutil.which("llvm-dwarfdump-14")


@dataclass
class Instr:
    op: str          # e.g. "DW_CFA_expression"
    args: str        # the text after "op: "
    register: str | None = None   # for (val_)expression: "RBX"
    expression: str | None = None  # for the three expression ops


@dataclass
class Entry:
    section: str
    offset: int
    kind: str                 # "CIE" | "FDE"
    pc_begin: int | None = None
    pc_end: int | None = None
    instrs: list = field(default_factory=list)


@dataclass
class Dump:
    entries: list
    stderr: str
    returncode: int

    def expressions(self, section: str | None = None) -> list:
        """All expression instructions, in file order (optionally of one section)."""
        return [i for e in self.entries if section is None or e.section == section
                for i in e.instrs if i.op in EXPR_OPS]


_SEC = re.compile(r"^(\.\S+) contents:\s*$")
_ENT = re.compile(r"^([0-9a-f]{8,}) ([0-9a-f]+) ([0-9a-f]+) (CIE|FDE)"
                  r"(?: cie=([0-9a-f]+) pc=([0-9a-f]+)\.\.\.([0-9a-f]+))?")
_INS = re.compile(r"^  (DW_CFA_\w+):\s?(.*)$")


def parse(text: str, stderr: str = "", returncode: int = 0) -> Dump:
    entries = []
    section = None
    cur = None
    for line in text.splitlines():
        m = _SEC.match(line)
        if m:
            section, cur = m.group(1), None
            continue
        m = _ENT.match(line)
        if m and section:
            cur = Entry(section, int(m.group(1), 16), m.group(4))
            if m.group(6):
                cur.pc_begin, cur.pc_end = int(m.group(6), 16), int(m.group(7), 16)
            entries.append(cur)
            continue
        m = _INS.match(line)
        if m and cur is not None:
            op, args = m.group(1), m.group(2).strip()
            ins = Instr(op, args)
            if op in ("DW_CFA_expression", "DW_CFA_val_expression"):
                reg, _, expr = args.partition(" ")
                ins.register, ins.expression = reg, expr
            elif op == "DW_CFA_def_cfa_expression":
                ins.expression = args
            cur.instrs.append(ins)
    return Dump(entries, stderr, returncode)


def run(path: str, timeout: float = 300) -> Dump:
    exe = llvm_dwarfdump_path()
    if exe is None:
        raise FileNotFoundError("llvm-dwarfdump not found")
    p = subprocess.run([exe, "--debug-frame", path], capture_output=True, timeout=timeout)
    return parse(p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace"), p.returncode)
