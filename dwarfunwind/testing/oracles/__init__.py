"""Independent oracles for dwarfunwind's CFI decoder.

Nothing here imports the rest of ``dwarfunwind``: the oracles are GNU readelf
(``readelf.py``) and llvm-dwarfdump (``llvm.py``), parsed from their text. They
live in the package (not in tests/) so that ``python -m dwarfunwind fuzz`` can
use them from an installed copy; tests and tools ``import oracles`` as before.
This module holds what both the tests and ``tools/cfi_differential.py`` share:

* a tiny ELF section-header scanner (to find files that carry CFI without
  running readelf on every file of the system),
* the canonical form of table cells (so that ``c-16`` / ``r3 (rbx)`` /
  ``rbx`` from the two sides are compared as values, not as strings),
* the row-by-row comparison of one FDE, producing readable mismatch records.
"""
from __future__ import annotations

import functools
import os
import re
import struct
from collections.abc import Iterable
from dataclasses import dataclass, field

# --------------------------------------------------------------------------
# Register naming
# --------------------------------------------------------------------------

# The names our JSON contract uses for DWARF registers 0..15; 16 is "ra".
CONTRACT_REG_NAMES = [
    "rax", "rdx", "rcx", "rbx", "rsi", "rdi", "rbp", "rsp",
    "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15",
]
RA_COLUMN = 16

_CONTRACT_NAME_TO_NUM = {n: i for i, n in enumerate(CONTRACT_REG_NAMES)}
_CONTRACT_NAME_TO_NUM["ra"] = RA_COLUMN
_RNUM = re.compile(r"^r(\d+)$")


@functools.cache
def contract_reg_number(name: str) -> int:
    """DWARF number of a register name in our JSON contract."""
    n = _CONTRACT_NAME_TO_NUM.get(name)
    if n is not None:
        return n
    m = _RNUM.match(name)
    if m:
        return int(m.group(1))
    if name == "rip":  # tolerated alias of column 16
        return RA_COLUMN
    raise ValueError(f"unknown register name in our output: {name!r}")


def contract_reg_name(num: int) -> str:
    if num < 16:
        return CONTRACT_REG_NAMES[num]
    if num == RA_COLUMN:
        return "ra"
    return f"r{num}"


# --------------------------------------------------------------------------
# Canonical cells
# --------------------------------------------------------------------------
# CFA:  ("reg", regno, offset) | ("exp",)
# rule: ("u",) ("s",) ("c", off) ("v", off) ("reg", regno) ("exp",) ("vexp",)

UNDEF = ("u",)
_OFF = re.compile(r"^([cv])([+-]\d+)$")
_CFA = re.compile(r"^(.+?)([+-]\d+)$")


@functools.cache
def canon_contract_rule(cell: str) -> tuple:
    """Canonical form of a register-rule cell of *our* JSON."""
    if cell in ("u", "s", "exp", "vexp"):
        return (cell,)
    m = _OFF.match(cell)
    if m:
        return (m.group(1), int(m.group(2)))
    return ("reg", contract_reg_number(cell))


def contract_column(name: str, ra: int = RA_COLUMN) -> int:
    """DWARF number of a column name of our JSON, whose ``ra`` is column ``ra`` (the CIE's)."""
    if name == "ra":
        return ra
    return contract_reg_number(name)


#: An undefined CFA (no DW_CFA_def_cfa yet). readelf prints its zeroed state, ``rax+N``
#: (docs/oracle-bugs.md); :func:`compare_fde` accepts that as the same.
UNDEF_CFA = ("u",)


@functools.cache
def canon_contract_cfa(cell: str) -> tuple:
    if cell in ("exp", "u"):
        return (cell,)
    m = _CFA.match(cell)
    if not m:
        raise ValueError(f"unparseable CFA cell in our output: {cell!r}")
    return ("reg", contract_reg_number(m.group(1)), int(m.group(2)))


def render_rule(c: tuple | None) -> str:
    """Render a canonical cell in the contract notation (for messages)."""
    if c is None:
        return "<no row>"
    if c[0] in ("u", "s", "exp", "vexp"):
        return c[0]  # also the undefined CFA, ("u",)
    if c[0] in ("c", "v"):
        return f"{c[0]}{c[1]:+d}"
    if c[0] == "reg" and len(c) == 2:
        return contract_reg_name(c[1])
    if c[0] == "reg":
        return f"{contract_reg_name(c[1])}{c[2]:+d}"
    return repr(c)


@dataclass
class CanonRow:
    loc: int
    cfa: tuple
    regs: dict  # int -> canonical rule (columns with 'u' may be absent)


@dataclass
class CanonFDE:
    offset: int
    pc_begin: int
    pc_end: int
    signal_frame: bool | None
    rows: list
    note: str = ""  # oracle-side caveat (e.g. readelf printed no rows)


def canon_contract_fde(fde: dict) -> CanonFDE:
    rows = []
    ra = int(fde.get("return_address_register", RA_COLUMN))
    for r in fde.get("rows", []):
        regs = {contract_column(k, ra): canon_contract_rule(v) for k, v in r.get("regs", {}).items()}
        rows.append(CanonRow(int(r["loc"]), canon_contract_cfa(r["cfa"]), regs))
    return CanonFDE(int(fde["offset"]), int(fde["pc_begin"]), int(fde["pc_end"]),
                    fde.get("signal_frame"), rows)


# --------------------------------------------------------------------------
# Comparison
# --------------------------------------------------------------------------

@dataclass
class Mismatch:
    file: str
    section: str
    fde_offset: int
    loc: int | None
    column: str
    ours: str
    oracle: str

    def __str__(self) -> str:
        loc = "-" if self.loc is None else f"{self.loc:#x}"
        return (f"{self.file} {self.section} FDE@{self.fde_offset:#x} loc={loc} "
                f"{self.column}: ours={self.ours} readelf={self.oracle}")


def _state_at(rows: list, addr: int) -> CanonRow | None:
    """The row in force at ``addr``: the last row whose loc <= addr (rows in order)."""
    best = None
    for r in rows:
        if r.loc <= addr:
            best = r
        else:
            break
    return best


def compare_fde(file: str, section: str, ours: CanonFDE, oracle: CanonFDE,
                max_per_fde: int = 20) -> tuple[int, list]:
    """Compare two FDEs as step functions over [pc_begin, pc_end).

    Every address at which either side starts a row is checked (so duplicate
    rows or an extra identical row on one side are not differences, but any
    change of any rule at any address is).  Returns (rows_checked, mismatches).
    """
    out: list[Mismatch] = []

    def mm(loc, col, a, b):
        out.append(Mismatch(file, section, oracle.offset, loc, col, a, b))

    if ours.pc_begin != oracle.pc_begin or ours.pc_end != oracle.pc_end:
        mm(None, "pc_range", f"{ours.pc_begin:#x}..{ours.pc_end:#x}",
           f"{oracle.pc_begin:#x}..{oracle.pc_end:#x}")
        return 0, out
    if oracle.signal_frame is not None and ours.signal_frame is not None \
            and bool(ours.signal_frame) != bool(oracle.signal_frame):
        mm(None, "signal_frame", str(ours.signal_frame), str(oracle.signal_frame))
    lo, hi = oracle.pc_begin, oracle.pc_end
    points = {lo}
    for r in ours.rows:
        if lo <= r.loc < hi:
            points.add(r.loc)
    for r in oracle.rows:
        if lo <= r.loc < hi:
            points.add(r.loc)
    checked = 0
    for p in sorted(points):
        a = _state_at(ours.rows, p)
        b = _state_at(oracle.rows, p)
        checked += 1
        if a is None or b is None:
            if a is None and b is None:
                continue
            mm(p, "row", "<no row>" if a is None else f"cfa={render_rule(a.cfa)}",
               "<no row>" if b is None else f"cfa={render_rule(b.cfa)}")
        else:
            # readelf shows an undefined CFA as its zeroed state, rax+N.
            same_undefined = a.cfa == UNDEF_CFA and b.cfa[:2] == ("reg", 0)
            if a.cfa != b.cfa and not same_undefined:
                mm(p, "CFA", render_rule(a.cfa), render_rule(b.cfa))
            for col in sorted(set(a.regs) | set(b.regs)):
                ra = a.regs.get(col, UNDEF)
                rb = b.regs.get(col, UNDEF)
                if ra != rb:
                    mm(p, contract_reg_name(col), render_rule(ra), render_rule(rb))
        if len(out) >= max_per_fde:
            break
    return checked, out


# --------------------------------------------------------------------------
# ELF scanning (section headers only; fast enough for thousands of files)
# --------------------------------------------------------------------------

SHT_NOBITS = 8


@dataclass
class ElfInfo:
    path: str
    machine: int
    etype: int = 0  # ET_REL=1, ET_EXEC=2, ET_DYN=3
    sections: dict = field(default_factory=dict)  # name -> (sh_type, sh_size)

    def has(self, name: str) -> bool:
        s = self.sections.get(name)
        return s is not None and s[0] != SHT_NOBITS and s[1] > 0

    @property
    def cfi_sections(self) -> list:
        return [n for n in (".eh_frame", ".debug_frame") if self.has(n)]


def scan_elf(path: str) -> ElfInfo | None:
    """Section names/types/sizes of a 64-bit little-endian ELF, or None."""
    try:
        with open(path, "rb") as f:
            hdr = f.read(64)
            if len(hdr) < 64 or hdr[:4] != b"\x7fELF" or hdr[4] != 2 or hdr[5] != 1:
                return None
            etype, machine = struct.unpack_from("<HH", hdr, 16)
            shoff = struct.unpack_from("<Q", hdr, 40)[0]
            shentsize, shnum, shstrndx = struct.unpack_from("<HHH", hdr, 58)
            if shoff == 0 or shentsize != 64:
                return None
            f.seek(shoff)
            if shnum == 0:
                first = f.read(64)
                shnum = struct.unpack_from("<Q", first, 32)[0]
                f.seek(shoff)
            if shnum > 65536:
                return None
            tab = f.read(shnum * 64)
            if len(tab) < shnum * 64:
                return None
            if shstrndx == 0xFFFF:
                shstrndx = struct.unpack_from("<I", tab, 40)[0]
            if shstrndx >= shnum:
                return None
            _, _, _, _, stroff, strsize = struct.unpack_from("<IIQQQQ", tab, shstrndx * 64)
            f.seek(stroff)
            strtab = f.read(min(strsize, 1 << 20))
            info = ElfInfo(path, machine, etype)
            for i in range(shnum):
                name_off, sh_type, _flags, _addr, _off, size = struct.unpack_from("<IIQQQQ", tab, i * 64)
                end = strtab.find(b"\0", name_off)
                name = strtab[name_off:end if end >= 0 else None].decode("latin-1")
                info.sections[name] = (sh_type, size)
            return info
    except (OSError, struct.error, ValueError):
        return None


EM_X86_64 = 62
ET_REL = 1


def rebase_fde(f: CanonFDE) -> CanonFDE:
    """The FDE with addresses relative to its pc_begin.

    Used for relocatable objects: readelf applies the relocations of .eh_frame
    (pc_begin becomes the function's offset in its section) while our contract
    prints the file's own, unrelocated values; the rows relative to pc_begin
    must still agree.
    """
    b = f.pc_begin
    return CanonFDE(f.offset, 0, f.pc_end - b, f.signal_frame,
                    [CanonRow(r.loc - b, r.cfa, r.regs) for r in f.rows], f.note)


def iter_cfi_elves(roots: Iterable[str], follow_symlinks: bool = False):
    """Yield ElfInfo for each distinct x86-64 ELF file with CFI under roots."""
    seen = set()
    for root in roots:
        if os.path.isfile(root):
            candidates = [root]
        else:
            candidates = []
            for d, dirs, files in os.walk(root):
                dirs.sort()
                for fn in sorted(files):
                    candidates.append(os.path.join(d, fn))
        for p in candidates:
            try:
                st = os.stat(p) if follow_symlinks or not os.path.islink(p) else None
            except OSError:
                continue
            if st is None or not os.path.isfile(p):
                continue
            key = (st.st_dev, st.st_ino)
            if key in seen:
                continue
            seen.add(key)
            info = scan_elf(p)
            if info is None or info.machine != EM_X86_64 or not info.cfi_sections:
                continue
            yield info


# --------------------------------------------------------------------------
# Running our CLI and diffing one file against readelf
# --------------------------------------------------------------------------

#: The directory holding the ``dwarfunwind`` package (a checkout's root, or site-packages).
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


def python_exe() -> str:
    import sys
    return os.path.realpath(sys.executable)


def run_ours(path: str, timeout: float = 600) -> tuple:
    """Run ``python -m dwarfunwind cfi PATH --json``: (parsed json or None, stderr, returncode)."""
    import json
    import subprocess
    env = dict(os.environ)
    env["PYTHONPATH"] = REPO_ROOT + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    p = subprocess.run([python_exe(), "-m", "dwarfunwind", "cfi", path, "--json"],
                       capture_output=True, timeout=timeout, cwd=REPO_ROOT, env=env)
    out = p.stdout.decode("utf-8", "replace")
    try:
        data = json.loads(out) if out.strip() else None
    except ValueError:
        data = None
    return data, p.stderr.decode("utf-8", "replace"), p.returncode


@dataclass
class FileResult:
    file: str
    skipped: str | None = None
    fdes: int = 0
    rows: int = 0
    mismatches: list = field(default_factory=list)
    notes: list = field(default_factory=list)


def diff_file(path: str, ours: dict | None = None, max_mismatches: int = 200) -> FileResult:
    """Compare every FDE of every CFI section of ``path``: our CLI vs readelf."""
    from . import readelf as R
    res = FileResult(path)
    dump = R.run(path)
    own = dump.own_sections()
    if dump.returncode != 0 and not any(s.fdes for s in own):
        res.skipped = f"readelf failed (rc={dump.returncode}): {dump.stderr.strip()[:200]}"
        return res
    if not any(s.fdes for s in own):
        res.skipped = "readelf shows no FDE"
        return res
    info = scan_elf(path)
    relocatable = info is not None and info.etype == ET_REL
    if relocatable:
        res.notes.append("relocatable object: rows compared relative to pc_begin")
    if ours is None:
        ours, err, rc = run_ours(path)
        if ours is None:
            res.mismatches.append(Mismatch(path, "-", -1, None, "cli", f"no JSON (rc={rc}): {err.strip()[:300]}", "-"))
            return res
        if rc != 0:
            res.notes.append(f"our cli exited {rc}: {err.strip()[:500]}")
    ours_secs = {s["name"]: s for s in ours.get("sections", [])}
    for s in own:
        if not s.fdes:
            continue
        o = ours_secs.get(s.name)
        if o is None:
            res.mismatches.append(Mismatch(path, s.name, -1, None, "section", "<missing>",
                                           f"{len(s.fdes)} FDEs"))
            continue
        by_off = {}
        for f in o.get("fdes", []):
            by_off[int(f["offset"])] = f
        for f in s.fdes:
            if f.unreliable:
                res.notes.append(f"{s.name} FDE@{f.offset:#x} skipped: readelf: {'; '.join(f.notes)[:200]}")
                continue
            oracle = R.canon_fde(f)
            if not oracle.rows:
                res.notes.append(f"{s.name} FDE@{f.offset:#x} skipped: {oracle.note}")
                continue
            mine = by_off.pop(f.offset, None)
            res.fdes += 1
            if mine is None:
                res.mismatches.append(Mismatch(path, s.name, f.offset, None, "fde", "<missing>",
                                               f"pc={f.pc_begin:#x}..{f.pc_end:#x}"))
                continue
            mine_c = canon_contract_fde(mine)
            if relocatable:
                mine_c, oracle = rebase_fde(mine_c), rebase_fde(oracle)
            n, mms = compare_fde(path, s.name, mine_c, oracle)
            res.rows += n
            res.mismatches.extend(mms)
            if len(res.mismatches) >= max_mismatches:
                res.notes.append("too many mismatches; stopped")
                return res
        for off in sorted(by_off):
            res.mismatches.append(Mismatch(path, s.name, off, None, "fde", "<extra FDE>", "<absent>"))
    return res
