"""Oracle: GNU readelf's interpreted CFI tables (``readelf --debug-dump=frames-interp``).

Parses readelf 2.40's output into plain data, in the shape of dwarfunwind's
``cfi --json`` contract, plus a canonical form used for comparison.

Format facts this parser relies on (binutils/dwarf.c, display_debug_frames and
frame_display_row):

* ``Contents of the .eh_frame section:`` or ``... (loaded from PATH):`` starts a
  section.  With the default ``follow-links`` readelf also dumps the sections
  of a separate debug file (``loaded from`` names that file); by default we ask
  for ``no-follow-links`` and, either way, we record ``loaded_from`` so callers
  can keep only the sections of the file itself.
* ``OFFSET LENGTH ID CIE "AUG" cf=N df=N ra=N`` and
  ``OFFSET LENGTH ID FDE cie=OFFSET pc=BEGIN..END``; ``OFFSET ZERO terminator``.
* A table starts with a header line ``   LOC  CFA  col...`` (the return-address
  column is called ``ra``, others by readelf's x86-64 register name, or
  ``rN``).  readelf pre-scans the FDE and shows every column referenced by the
  CIE or the FDE, so every row has one cell per header column.
* Rows: ``LOC CFA cells``; CFA ``rsp+8`` or ``exp``; cells ``u`` ``s`` ``c-16``
  ``v+8`` ``exp`` ``vexp`` ``n/a`` or, for DW_CFA_register, ``rN (name)`` (which
  contains a space) or ``rN``.
* A row is printed at every advance_loc/set_loc (even when nothing changed, even
  for a zero advance) and once at the end.  An FDE whose instructions are
  empty or all DW_CFA_nop prints *no* row: its only row is the CIE's initial
  rules, which we synthesise from the CIE's last printed row.
* ``Mismatched DW_CFA_restore_state`` and ``DW_CFA_xxx: bad register: ...``
  lines are printed inside an entry; such FDEs are flagged ``unreliable``.
* The augmentation string is printed for CIEs only; ``S`` in it marks the FDEs
  that use the CIE as signal frames.
"""
from __future__ import annotations

import functools
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from typing import Any

from . import RA_COLUMN, CanonFDE, CanonRow, contract_reg_name, render_rule

# binutils dwarf.c dwarf_regnames_x86_64 (index = DWARF register number).
_X86_64_NAMES = (
    ["rax", "rdx", "rcx", "rbx", "rsi", "rdi", "rbp", "rsp",
     "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15", "rip"]
    + [f"xmm{i}" for i in range(16)]
    + [f"st{i}" for i in range(8)]
    + [f"mm{i}" for i in range(8)]
    + ["rflags", "es", "cs", "ss", "ds", "fs", "gs", None, None,
       "fs.base", "gs.base", None, None, "tr", "ldtr", "mxcsr", "fcw", "fsw"]
    + [f"xmm{i}" for i in range(16, 32)]
)
_X86_64_NAMES += [None] * (118 - len(_X86_64_NAMES)) + [f"k{i}" for i in range(8)]
READELF_NAME_TO_NUM = {n: i for i, n in enumerate(_X86_64_NAMES) if n is not None}
_RN = re.compile(r"^r(\d+)$")


def readelf_reg_number(name: str) -> int:
    n = READELF_NAME_TO_NUM.get(name)
    if n is not None:
        return n
    m = _RN.match(name)
    if m:
        return int(m.group(1))
    raise ValueError(f"unknown readelf register name {name!r}")


class ReadelfError(Exception):
    pass


def readelf_path() -> str | None:
    return shutil.which("readelf")


#: Complaints readelf prints about CFI it accepts all the same, with rows that stay exact:
#: a restore_state with nothing remembered changes nothing (in readelf, gdb and us).
BENIGN_NOTES = frozenset({"Mismatched DW_CFA_restore_state"})


@dataclass
class Row:
    loc: int
    cfa: str                      # readelf's text, e.g. "rsp+8" / "exp"
    cells: dict                   # column number -> readelf's text


@dataclass
class CIE:
    offset: int
    augmentation: str
    code_factor: int
    data_factor: int
    ra: int
    columns: list = field(default_factory=list)
    rows: list = field(default_factory=list)


@dataclass
class FDE:
    offset: int
    cie_offset: int | None
    pc_begin: int
    pc_end: int
    columns: list = field(default_factory=list)
    rows: list = field(default_factory=list)   # as printed (may be empty)
    notes: list = field(default_factory=list)  # readelf complaints inside the entry
    signal_frame: bool | None = None
    synthesized: bool = False                  # rows taken from the CIE

    @property
    def unreliable(self) -> bool:
        return any(n not in BENIGN_NOTES for n in self.notes)


@dataclass
class Section:
    name: str
    loaded_from: str | None
    fdes: list = field(default_factory=list)
    cies: dict = field(default_factory=dict)   # offset -> CIE


@dataclass
class Dump:
    file: str
    sections: list
    stderr: str
    returncode: int

    def section(self, name: str, own_only: bool = True) -> Section | None:
        for s in self.sections:
            if s.name == name and (not own_only or s.loaded_from in (None, self.file)):
                return s
        return None

    def own_sections(self) -> list:
        return [s for s in self.sections if s.loaded_from in (None, self.file)]


# ---------------------------------------------------------------- parsing

_SEC = re.compile(r"^Contents of the (\S+) section(?: \(loaded from (.*)\))?:\s*$")
_CIE = re.compile(r'^([0-9a-f]{8,}) ([0-9a-f]+) ([0-9a-f]+) CIE "(.*)" cf=(\d+) df=(-?\d+) ra=(\d+)\s*$')
_FDE = re.compile(r"^([0-9a-f]{8,}) ([0-9a-f]+) ([0-9a-f]+) FDE cie=(\S+) ?pc=(?:[0-9a-f]+:)?"
                  r"([0-9a-f]+)\.\.([0-9a-f]+)\s*$")
_ZERO = re.compile(r"^([0-9a-f]{8,}) ZERO terminator")
_CELL = re.compile(r"r\d+ \([^)]*\)|\S+")
_HEX = re.compile(r"^[0-9a-f]+ ")


def _parse_header(line: str, ra: int) -> list:
    toks = line.split()
    # toks: LOC CFA names...
    if len(toks) < 2 or toks[0] != "LOC" or toks[1] != "CFA":
        raise ReadelfError(f"bad column header: {line!r}")
    cols = []
    for t in toks[2:]:
        cols.append(ra if t == "ra" else readelf_reg_number(t))
    return cols


def parse(text: str, file: str = "", stderr: str = "", returncode: int = 0) -> Dump:
    sections: list[Section] = []
    sec: Section | None = None
    entry: Any = None     # current CIE or FDE
    entry_cie: CIE | None = None
    cols: list | None = None
    for line in text.splitlines():
        if not line:
            continue
        c0 = line[0]
        if c0 == "C":
            m = _SEC.match(line)
            if m:
                sec = Section(m.group(1), m.group(2))
                sections.append(sec)
                entry, cols = None, None
                continue
        if sec is None:
            continue
        if c0 == " ":
            if line.startswith("   LOC") and entry is not None:
                ra = entry.ra if isinstance(entry, CIE) else (entry_cie.ra if entry_cie else RA_COLUMN)
                cols = _parse_header(line, ra)
                entry.columns = cols
            elif entry is not None:
                entry_notes(entry).append(line.strip())
            continue
        if cols is not None and _HEX.match(line) and " FDE " not in line and " CIE " not in line \
                and "ZERO terminator" not in line:
            toks = _CELL.findall(line)
            if len(toks) != len(cols) + 2:
                entry_notes(entry).append(f"row with {len(toks) - 2} cells for {len(cols)} columns: {line}")
                continue
            entry.rows.append(Row(int(toks[0], 16), toks[1], dict(zip(cols, toks[2:]))))
            continue
        m = _FDE.match(line)
        if m:
            cie_txt = m.group(4)
            cie_off = int(cie_txt, 16) if re.fullmatch(r"[0-9a-f]+", cie_txt) else None
            entry = FDE(int(m.group(1), 16), cie_off, int(m.group(5), 16), int(m.group(6), 16))
            entry_cie = sec.cies.get(cie_off) if cie_off is not None else None
            if entry_cie is not None:
                entry.signal_frame = "S" in entry_cie.augmentation
            else:
                entry.notes.append("CIE not seen before this FDE (forward reference or invalid)")
            sec.fdes.append(entry)
            cols = None
            continue
        m = _CIE.match(line)
        if m:
            entry = CIE(int(m.group(1), 16), m.group(4), int(m.group(5)), int(m.group(6)), int(m.group(7)))
            entry_cie = None
            sec.cies[entry.offset] = entry
            cols = None
            continue
        if _ZERO.match(line):
            entry, cols = None, None
            continue
        if entry is not None:
            entry_notes(entry).append(line.strip())

    for s in sections:
        for f in s.fdes:
            if not f.rows:
                cie = s.cies.get(f.cie_offset) if f.cie_offset is not None else None
                if cie is not None and cie.rows:
                    last = cie.rows[-1]
                    f.rows = [Row(f.pc_begin, last.cfa, dict(last.cells))]
                    f.columns = list(cie.columns)
                    f.synthesized = True
    return Dump(file, sections, stderr, returncode)


def entry_notes(entry) -> list:
    if isinstance(entry, FDE):
        return entry.notes
    # complaints inside a CIE: keep them on the CIE object
    if not hasattr(entry, "notes"):
        entry.notes = []
    return entry.notes


def run(path: str, follow_links: bool = False, option: str = "--debug-dump=frames-interp",
        timeout: float = 300) -> Dump:
    """Run readelf on ``path`` and parse its output.

    ``option`` may be ``--debug-dump=frames-interp`` or ``-wF``.
    """
    exe = readelf_path()
    if exe is None:
        raise ReadelfError("readelf not found")
    cmd = [exe, option]
    if not follow_links:
        cmd.append("--debug-dump=no-follow-links")
    cmd.append(path)
    p = subprocess.run(cmd, capture_output=True, timeout=timeout,
                       env={"LC_ALL": "C", "PATH": "/usr/bin:/bin"})
    text = p.stdout.decode("utf-8", "replace")
    err = p.stderr.decode("utf-8", "replace")
    return parse(text, path, err, p.returncode)


# ---------------------------------------------------------------- conversion

_OFF = re.compile(r"^([cv])([+-]\d+)$")
_CFA = re.compile(r"^(.+?)([+-]\d+)$")
_REGCELL = re.compile(r"^r(\d+)(?: \(.*\))?$")


@functools.cache
def canon_rule(cell: str) -> tuple:
    if cell in ("u", "s", "exp", "vexp"):
        return (cell,)
    m = _OFF.match(cell)
    if m:
        return (m.group(1), int(m.group(2)))
    m = _REGCELL.match(cell)
    if m:
        return ("reg", int(m.group(1)))
    if cell in READELF_NAME_TO_NUM:
        return ("reg", READELF_NAME_TO_NUM[cell])
    return ("?", cell)  # e.g. "n/a": never equal to anything of ours


@functools.cache
def canon_cfa(cell: str) -> tuple:
    if cell == "exp":
        return ("exp",)
    m = _CFA.match(cell)
    if not m:
        return ("?", cell)
    return ("reg", readelf_reg_number(m.group(1)), int(m.group(2)))


def canon_fde(f: FDE) -> CanonFDE:
    rows = []
    for r in f.rows:
        regs = {}
        for col, cell in r.cells.items():
            c = canon_rule(cell)
            if c != ("u",):
                regs[col] = c
        rows.append(CanonRow(r.loc, canon_cfa(r.cfa), regs))
    note = "; ".join(f.notes)
    if not f.rows:
        note = (note + "; " if note else "") + "readelf printed no row and its CIE none either"
    return CanonFDE(f.offset, f.pc_begin, f.pc_end, f.signal_frame, rows, note)


def to_contract(dump: Dump, own_only: bool = True) -> dict:
    """The dump in the shape of ``dwarfunwind cfi --json`` (for eyeballing/diffing)."""
    out: dict[str, Any] = {"file": dump.file, "sections": []}
    for s in dump.sections:
        if own_only and s.loaded_from not in (None, dump.file):
            continue
        fdes = []
        for f in s.fdes:
            cf = canon_fde(f)
            fdes.append({
                "offset": f.offset, "pc_begin": f.pc_begin, "pc_end": f.pc_end,
                "signal_frame": bool(f.signal_frame),
                "rows": [{"loc": r.loc, "cfa": render_rule(r.cfa),
                          "regs": {contract_reg_name(k): render_rule(v) for k, v in sorted(r.regs.items())}}
                         for r in cf.rows],
            })
        out["sections"].append({"name": s.name, "fdes": fdes})
    return out


if __name__ == "__main__":  # pragma: no cover - debugging aid
    import json
    import sys
    d = run(sys.argv[1])
    json.dump(to_contract(d), sys.stdout, indent=1)
