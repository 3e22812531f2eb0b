"""Mutation testing of ``check`` on real CFI: change one thing in a real FDE, see whether it is caught.

Mutants are made in the FDE's own instruction bytes, in place, so the rest of the
entry (and the CIE) stays exactly as the toolchain wrote it:

- ``cfa-offset``: a one-byte ``DW_CFA_def_cfa_offset N`` becomes ``N+8`` (``N-8`` when
  ``N+8`` would not fit in one byte);
- ``drop-rule``: a ``DW_CFA_offset rN, M`` (two bytes) becomes two ``DW_CFA_nop``.

Mutations of a fragment's first row (an FDE that does not start at a function entry) are
counted apart and not run: that row is the state the fragment is checked under. A mutant
is *visible* when the row in force differs from the original's at some instruction the
original check visited (the CFA rule, or one checked register's
rule). It is *detected* when checking it reports a defect. Only FDEs whose
original check is clean and checkable throughout are mutated, so every defect
reported on a mutant is caused by the mutation.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

from ..cfi.program import row_table
from ..cfi.sections import FDE
from ..errors import DwarfUnwindError
from . import FileChecker

_ADVANCE1, _ADVANCE2, _ADVANCE4 = 0x02, 0x03, 0x04
_SIMPLE_ULEB1 = {0x0D, 0x0E, 0x07, 0x08, 0x06}  # def_cfa_register, def_cfa_offset, undefined, same_value, restore_ext
_ULEB2 = {0x0C, 0x05, 0x09, 0x14}  # def_cfa, offset_extended, register, val_offset


def _uleb_end(code: bytes, pos: int) -> int:
    while pos < len(code) and code[pos] & 0x80:
        pos += 1
    return pos + 1


def mutation_sites(code: bytes) -> Iterator[tuple[str, int]]:
    """(kind, byte position) of every mutable instruction, walking the FDE's instructions.

    Stops at an opcode it does not know the length of (expressions and rarer forms):
    the sites before it are still offered.
    """
    for kind, pos, _ in _sites(code):
        yield kind, pos


def _sites(code: bytes) -> Iterator[tuple[str, int, bool]]:
    """As mutation_sites, with whether the site lies in the first row (before any advance)."""
    pos = 0
    n = len(code)
    first = True
    while pos < n:
        op = code[pos]
        high = op & 0xC0
        if op in (_ADVANCE1, _ADVANCE2, _ADVANCE4) or high == 0x40:
            first = False
        if high == 0x40 or high == 0xC0:  # advance_loc, restore
            pos += 1
        elif high == 0x80:  # offset r, uleb
            if pos + 1 < n and code[pos + 1] < 0x80:
                yield "drop-rule", pos, first
            pos = _uleb_end(code, pos + 1)
        elif op == 0x00 or op in (0x0A, 0x0B):  # nop, remember_state, restore_state
            pos += 1
        elif op == _ADVANCE1:
            pos += 2
        elif op == _ADVANCE2:
            pos += 3
        elif op == _ADVANCE4:
            pos += 5
        elif op == 0x0E:  # def_cfa_offset
            if pos + 1 < n and code[pos + 1] < 0x80:
                yield "cfa-offset", pos, first
            pos = _uleb_end(code, pos + 1)
        elif op in _SIMPLE_ULEB1 or op == 0x2E:  # ... and GNU_args_size
            pos = _uleb_end(code, pos + 1)
        elif op in _ULEB2:
            pos = _uleb_end(code, _uleb_end(code, pos + 1))
        else:
            return


def mutate(code: bytes, kind: str, pos: int) -> bytes:
    out = bytearray(code)
    if kind == "cfa-offset":
        v = out[pos + 1]
        out[pos + 1] = v + 8 if v + 8 < 0x80 else v - 8
    else:  # drop-rule
        out[pos] = out[pos + 1] = 0x00
    return bytes(out)


def _copy(fde: FDE, code: bytes) -> FDE:
    return FDE(fde.offset, fde.cie, fde.pc_begin, fde.pc_range, code, fde.lsda, fde.section,
               fde.instructions_address)


class MutationResult:
    """Counts of one run, and the missed mutants for inspection."""

    def __init__(self) -> None:
        self.fdes = 0  # FDEs that were clean and checkable, hence mutated
        self.mutants = 0
        self.visible = 0
        self.detected = 0  # among the visible
        self.invisible_detected = 0
        self.assumption = 0  # mutants of a fragment's first row (not counted as mutants)
        #: (kind, fde pc_begin, function, fragment): a fragment's entry state comes from its first
        #: row, so a mutation there changes the assumption rather than breaking it.
        self.missed: list[tuple[str, int, str, bool]] = []

    @property
    def rate(self) -> float:
        return self.detected / self.visible if self.visible else 1.0


def run_mutations(path: str, *, max_fdes: int | None = None, seed: int = 0) -> MutationResult:
    """Mutate FDEs of ``path`` (a random sample of ``max_fdes``, or all) and check each mutant."""
    fc = FileChecker(path)
    out = MutationResult()
    fdes = [f for f in fc.fdes if f.pc_range]
    if max_fdes is not None and len(fdes) > max_fdes:
        fdes = random.Random(seed).sample(fdes, max_fdes)
        fdes.sort(key=lambda f: f.pc_begin)
    for fde in fdes:
        sites = list(_sites(fde.instructions))
        if not sites:
            continue
        try:
            done = fc.check_fde(fde)
            original = row_table(fde)
        except DwarfUnwindError:
            continue
        if done is None:
            continue
        result, _ = done
        if not result.clean or result.uncheckable is not None or not result.visited:
            continue
        out.fdes += 1
        for kind, pos, in_first_row in sites:
            if in_first_row and result.fragment:
                # A fragment's entry state is its first row: changing it changes the assumption
                # the fragment is checked under, not something the code can contradict.
                out.assumption += 1
                continue
            mutant = _copy(fde, mutate(fde.instructions, kind, pos))
            try:
                table = row_table(mutant)
            except DwarfUnwindError:
                continue
            out.mutants += 1
            visible = _visible(original, table, result.visited)
            got = fc.check_fde(mutant, table)
            detected = got is not None and not got[0].clean
            if visible:
                out.visible += 1
                if detected:
                    out.detected += 1
                else:
                    out.missed.append((kind, fde.pc_begin, result.name, result.fragment))
            elif detected:
                out.invisible_detected += 1
    return out


_CHECKED = (3, 6, 12, 13, 14, 15, 16)


def _visible(a: list, b: list, visited: set[int]) -> bool:
    """Does the row in force differ at some visited instruction (CFA or a checked register)?"""
    import bisect

    la = [r[0] for r in a]
    lb = [r[0] for r in b]
    for pc in visited:
        ra = a[bisect.bisect_right(la, pc) - 1]
        rb = b[bisect.bisect_right(lb, pc) - 1]
        if ra[1] != rb[1]:
            return True
        if any(ra[2].get(c) != rb[2].get(c) for c in _CHECKED):
            return True
    return False
