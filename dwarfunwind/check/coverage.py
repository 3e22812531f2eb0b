"""Coverage findings: which code has CFI, and whether the tables agree with each other.

- a FUNC symbol with code and no FDE (a note: code nothing unwinds through needs none);
- an FDE that covers no FUNC symbol (only judged when the file has a full .symtab);
- an FDE that starts or ends in the middle of an instruction;
- FDEs that overlap;
- an .eh_frame_hdr search table that disagrees with .eh_frame.
"""

from __future__ import annotations

import bisect
import struct
from collections.abc import Callable
from typing import Any

from ..cfi.sections import FDE, CFISection, _HdrTable
from ..elf.reader import ELFReader
from .decode import decode_range
from .findings import COVERAGE, NO_FDE, Finding

_SYM = struct.Struct("<IBBHQQ")
STT_FUNC = 2
STT_GNU_IFUNC = 10


def func_symbols(reader: ELFReader) -> tuple[list[tuple[int, int, str]], bool, set[int]]:
    """(start, size, name) of every defined FUNC symbol with a size, whether .symtab was used,
    and the start of every FUNC symbol (sized or not)."""
    for kind, full in ((2, True), (11, False)):
        for s in reader.sections:
            if s.type == kind and s.link < len(reader.sections) and s.size >= _SYM.size:
                raw = reader.section_data(s)
                strtab = reader.section_data(reader.sections[s.link])
                usable = len(raw) - len(raw) % _SYM.size
                out: dict[int, tuple[int, int, str]] = {}
                labels: set[int] = set()
                for name_off, info, _, shndx, value, size in _SYM.iter_unpack(raw[:usable]):
                    if shndx and (info & 0xF) in (STT_FUNC, STT_GNU_IFUNC):
                        labels.add(value)
                    if shndx and size and (info & 0xF) in (STT_FUNC, STT_GNU_IFUNC):
                        end = strtab.find(b"\0", name_off)
                        out.setdefault(value, (value, size, strtab[name_off:end].decode("utf-8", "replace")))
                return sorted(out.values()), full, labels
    return [], False, set()


def coverage_findings(fdes: list[FDE], symbols: list[tuple[int, int, str]], full_symtab: bool, labels: set[int],
                      code: Any, name_of: Callable[[int], tuple[str, int]],
                      sections: list[CFISection], in_plt: Callable[[int], bool]) -> list[Finding]:
    out: list[Finding] = []
    code_at = code.at

    def add(kind: str, pc: int, message: str) -> None:
        name, off = name_of(pc)
        out.append(Finding(kind, pc, message, function=name, offset=off))

    ranges = sorted(((f.pc_begin, f.pc_end, f) for f in fdes if f.pc_end > f.pc_begin), key=lambda r: r[:2])
    begins = [r[0] for r in ranges]
    # Overlaps (between FDEs of one section: .eh_frame and .debug_frame may describe the same code).
    prev: FDE | None = None
    for b, e, f in ranges:
        if prev is not None and b < prev.pc_end and prev.section == f.section:
            add(COVERAGE, b, f"FDE at {f.section}+{f.offset:#x} ({b:#x}..{e:#x}) overlaps the FDE at "
                f"{prev.section}+{prev.offset:#x} ({prev.pc_begin:#x}..{prev.pc_end:#x})")
        if prev is None or e > prev.pc_end or prev.section != f.section:
            prev = f
    # Symbols without FDE, FDEs without symbol, FDE starts inside an instruction of its symbol.
    starts = [s[0] for s in symbols]
    for start, size, name in symbols:
        if code_at(start, 1) is None:
            continue  # not in an executable section (or not in this file)
        i = bisect.bisect_right(begins, start + size - 1) - 1
        covered = False
        for j in range(i, max(i - 8, -1), -1):  # overlapping FDEs are few: look back a little
            if ranges[j][1] > start:
                covered = True
                break
        if not covered:
            out.append(Finding(NO_FDE, start, f"FUNC symbol {name} ({size} bytes) has no FDE",
                               function=name, offset=0))
    for b, e, f in ranges:
        j = bisect.bisect_right(starts, b) - 1
        sym = symbols[j] if j >= 0 and symbols[j][0] + symbols[j][1] > b else None
        if sym is None:
            # an FDE over code no symbol names: judged only with a full .symtab
            k = bisect.bisect_left(starts, b)
            inside = k < len(symbols) and symbols[k][0] < e or any(b <= a < e for a in (b, b + 1) if a in labels)
            if full_symtab and not inside and not in_plt(b):
                add(COVERAGE, b, f"FDE at {f.section}+{f.offset:#x} ({b:#x}..{e:#x}) covers no FUNC symbol")
            continue
        if sym[0] != b and sym[0] < b:
            text = code.upto(sym[0], b - sym[0] + 16)
            if text is not None:
                pos = sym[0]
                for ins in decode_range(text, sym[0]):
                    if ins.ip >= b:
                        pos = ins.ip
                        break
                if pos != b:
                    add(COVERAGE, b, f"FDE at {f.section}+{f.offset:#x} starts in the middle of an instruction "
                        f"of {sym[2]}")
    for b, e, f in ranges:
        if code_at(b, e - b) is None:
            add(COVERAGE, b, f"FDE at {f.section}+{f.offset:#x} ({b:#x}..{e:#x}) covers no executable code")
    _hdr_findings(sections, add)
    return out


def _hdr_findings(sections: list[CFISection], add: Callable[[str, int, str], None]) -> None:
    for s in sections:
        table: _HdrTable | None = getattr(s, "_hdr_table", None)
        if table is None:
            continue
        # Every FDE with a range must be in the table exactly once, at its own initial location.
        want = {}
        for f in s.fdes([]):
            if f.pc_range:
                want[f.offset] = f.pc_begin
        seen: dict[int, int] = {}
        last = None
        for i in range(min(table.count, 1 << 22)):
            loc, addr = table._entry(i)
            off = addr - s.address
            if last is not None and loc < last:
                add(COVERAGE, loc, f".eh_frame_hdr table is not sorted at entry {i} ({loc:#x} after {last:#x})")
            last = loc
            if off not in want:
                add(COVERAGE, loc, f".eh_frame_hdr entry {i} ({loc:#x}) points at .eh_frame+{off:#x}, "
                    "which is not an FDE")
            elif want[off] != loc:
                add(COVERAGE, loc, f".eh_frame_hdr entry {i} says {loc:#x}, the FDE at .eh_frame+{off:#x} "
                    f"starts at {want[off]:#x}")
            seen[off] = seen.get(off, 0) + 1
        for off, loc in want.items():
            if off not in seen:
                add(COVERAGE, loc, f"FDE at .eh_frame+{off:#x} ({loc:#x}) is missing from .eh_frame_hdr")
