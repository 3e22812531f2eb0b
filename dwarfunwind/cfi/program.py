"""The CFA interpreter: DW_CFA instructions of a CIE and an FDE -> rows.

One function, :func:`run`, executes the instructions and either collects every
row (:func:`rows`) or stops at the row governing one address (:func:`row_at`).
Semantics follow DWARF 5 section 6.4.2 and GCC's runtime where they differ:
``remember_state``/``restore_state`` carry the CFA rule too, and the ``_sf``
forms scale by the data alignment factor. Sequences the standard does not
allow but libgcc, gdb and readelf all accept are accepted the way they do:

* ``def_cfa_offset``/``_sf`` after ``def_cfa_expression`` keeps the expression
  and records the offset (libgcc: "cfa_how deliberately not set"); a later
  ``def_cfa_register`` makes register + that offset;
* before any ``def_cfa`` (``.cfi_startproc simple``) the CFA is undefined;
* ``restore`` of a column the CIE never set leaves it without a rule;
* ``restore_state`` with nothing remembered changes nothing (readelf says
  "Mismatched DW_CFA_restore_state", gdb complains and goes on);
* an advance past the FDE's end still makes a row (readelf lists it); such rows
  govern no address.

Work is charged to a :class:`~dwarfunwind.cfi.budget.Budget` (docs/security.md).
"""

from __future__ import annotations

import struct

from ..errors import CFIError
from .budget import Budget, caps_only, variable
from .encoding import PointerBases, read_encoded, read_sleb128, read_uleb128
from .rules import (
    EXPRESSION,
    OFFSET,
    REGISTER,
    SAME_VALUE_RULE,
    UNDEFINED_CFA,
    UNDEFINED_RULE,
    VAL_EXPRESSION,
    VAL_OFFSET,
    CFARule,
    Row,
    Rule,
)
from .sections import CIE, FDE

# DW_CFA opcodes (DWARF 5 table 7.29, plus GNU extensions).
DW_CFA_advance_loc = 0x40
DW_CFA_offset = 0x80
DW_CFA_restore = 0xC0
DW_CFA_nop = 0x00
DW_CFA_set_loc = 0x01
DW_CFA_advance_loc1 = 0x02
DW_CFA_advance_loc2 = 0x03
DW_CFA_advance_loc4 = 0x04
DW_CFA_offset_extended = 0x05
DW_CFA_restore_extended = 0x06
DW_CFA_undefined = 0x07
DW_CFA_same_value = 0x08
DW_CFA_register = 0x09
DW_CFA_remember_state = 0x0A
DW_CFA_restore_state = 0x0B
DW_CFA_def_cfa = 0x0C
DW_CFA_def_cfa_register = 0x0D
DW_CFA_def_cfa_offset = 0x0E
DW_CFA_def_cfa_expression = 0x0F
DW_CFA_expression = 0x10
DW_CFA_offset_extended_sf = 0x11
DW_CFA_def_cfa_sf = 0x12
DW_CFA_def_cfa_offset_sf = 0x13
DW_CFA_val_offset = 0x14
DW_CFA_val_offset_sf = 0x15
DW_CFA_val_expression = 0x16
DW_CFA_MIPS_advance_loc8 = 0x1D
DW_CFA_GNU_window_save = 0x2D
DW_CFA_GNU_args_size = 0x2E
DW_CFA_GNU_negative_offset_extended = 0x2F

#: Bound on DWARF register numbers: larger ones are refused as corrupt.
MAX_REGISTER = 1 << 16

_U16 = struct.Struct("<H")
_U32 = struct.Struct("<I")
_U64 = struct.Struct("<Q")



class _State:
    """Mutable interpreter state; rows snapshot it."""

    __slots__ = ("cfa", "regs")

    def __init__(self, cfa: CFARule, regs: dict[int, Rule]) -> None:
        self.cfa = cfa
        self.regs = regs


def _execute(
    code: bytes,
    cie: CIE,
    state: _State,
    initial: dict[int, Rule] | None,
    loc: int,
    stop_pc: int | None,
    out: list[tuple[int, CFARule, dict[int, Rule]]] | None,
    section: str,
    entry_offset: int,
    bases: PointerBases,
    budget: Budget,
) -> tuple[int, int | None]:
    """Run ``code``; return (loc, next_loc): next_loc is where the row ends when stopped early.

    Each time the location advances, the row in force so far is appended to
    ``out`` (when given); with ``stop_pc`` the run ends as soon as the location
    would pass it, leaving ``state`` as the row governing ``stop_pc``.
    Instruction bytes and every rule copied are charged to ``budget``.
    """
    budget.cfi_work += len(code)  # charged inline: this is the hot path (see Budget.spend_cfi_work)
    if budget.cfi_work > budget.max_cfi_work:
        budget.cfi_work_exhausted(f"{section} entry at {entry_offset:#x}")
    max_rules = budget.rules_per_row
    copied = 0
    caf = cie.code_alignment_factor
    daf = cie.data_alignment_factor
    regs = state.regs
    stack: list[tuple[CFARule, dict[int, Rule]]] = []
    pos = 0
    end = len(code)
    try:
        while pos < end:
            op = code[pos]
            pos += 1
            high = op & 0xC0
            if high:
                low = op & 0x3F
                if high == DW_CFA_advance_loc:
                    new = loc + low * caf
                elif high == DW_CFA_offset:
                    off = code[pos]  # one-byte LEB128 inline: by far the common case
                    if off < 0x80:
                        pos += 1
                    else:
                        off, pos = read_uleb128(code, pos)
                    regs[low] = Rule(OFFSET, off * daf)
                    continue
                else:  # DW_CFA_restore
                    _restore(regs, initial, low)
                    continue
            elif op == DW_CFA_nop:
                continue
            elif op == DW_CFA_def_cfa_offset:
                off = code[pos]
                if off < 0x80:
                    pos += 1
                else:
                    off, pos = read_uleb128(code, pos)
                # The expression stays, if there is one: libgcc's "cfa_how deliberately not set".
                state.cfa = CFARule(state.cfa.register, off, state.cfa.expression)
                continue
            elif op == DW_CFA_advance_loc1:
                new = loc + code[pos] * caf
                pos += 1
            elif op == DW_CFA_advance_loc2:
                new = loc + _U16.unpack_from(code, pos)[0] * caf
                pos += 2
            elif op == DW_CFA_advance_loc4:
                new = loc + _U32.unpack_from(code, pos)[0] * caf
                pos += 4
            elif op == DW_CFA_MIPS_advance_loc8:
                new = loc + _U64.unpack_from(code, pos)[0] * caf
                pos += 8
            elif op == DW_CFA_set_loc:
                value, pos = read_encoded(code, pos, cie.fde_encoding, bases, cie.address_size)
                new = value or 0
            elif op == DW_CFA_def_cfa:
                reg, pos = read_uleb128(code, pos)
                off, pos = read_uleb128(code, pos)
                state.cfa = CFARule(_check_reg(reg), off, None)
                continue
            elif op == DW_CFA_def_cfa_register:
                reg, pos = read_uleb128(code, pos)
                state.cfa = CFARule(_check_reg(reg), state.cfa.offset, None)
                continue
            elif op == DW_CFA_remember_state:
                if len(stack) >= budget.remember_depth:
                    raise CFIError(f"remember_state nested deeper than {budget.remember_depth} "
                                   f"(cap remember_depth, {variable('remember_depth')})", section, entry_offset)
                budget.cfi_work += len(regs)
                if budget.cfi_work > budget.max_cfi_work:
                    budget.cfi_work_exhausted(f"{section} entry at {entry_offset:#x}")
                stack.append((state.cfa, dict(regs)))
                continue
            elif op == DW_CFA_restore_state:
                if stack:  # with nothing remembered it changes nothing, as in readelf and gdb
                    state.cfa, saved = stack.pop()
                    budget.cfi_work += len(saved)
                    if budget.cfi_work > budget.max_cfi_work:
                        budget.cfi_work_exhausted(f"{section} entry at {entry_offset:#x}")
                    regs.clear()
                    regs.update(saved)
                continue
            elif op in (DW_CFA_offset_extended, DW_CFA_val_offset):
                reg, pos = read_uleb128(code, pos)
                off, pos = read_uleb128(code, pos)
                kind = OFFSET if op == DW_CFA_offset_extended else VAL_OFFSET
                regs[_check_reg(reg)] = Rule(kind, off * daf)
                continue
            elif op in (DW_CFA_offset_extended_sf, DW_CFA_val_offset_sf):
                reg, pos = read_uleb128(code, pos)
                off, pos = read_sleb128(code, pos)
                kind = OFFSET if op == DW_CFA_offset_extended_sf else VAL_OFFSET
                regs[_check_reg(reg)] = Rule(kind, off * daf)
                continue
            elif op == DW_CFA_GNU_negative_offset_extended:
                reg, pos = read_uleb128(code, pos)
                off, pos = read_uleb128(code, pos)
                regs[_check_reg(reg)] = Rule(OFFSET, -off * daf)
                continue
            elif op == DW_CFA_restore_extended:
                reg, pos = read_uleb128(code, pos)
                _restore(regs, initial, _check_reg(reg))
                continue
            elif op == DW_CFA_undefined:
                reg, pos = read_uleb128(code, pos)
                regs[_check_reg(reg)] = UNDEFINED_RULE
                continue
            elif op == DW_CFA_same_value:
                reg, pos = read_uleb128(code, pos)
                regs[_check_reg(reg)] = SAME_VALUE_RULE
                continue
            elif op == DW_CFA_register:
                reg, pos = read_uleb128(code, pos)
                reg2, pos = read_uleb128(code, pos)
                regs[_check_reg(reg)] = Rule(REGISTER, _check_reg(reg2))
                continue
            elif op == DW_CFA_def_cfa_sf:
                reg, pos = read_uleb128(code, pos)
                off, pos = read_sleb128(code, pos)
                state.cfa = CFARule(_check_reg(reg), off * daf, None)
                continue
            elif op == DW_CFA_def_cfa_offset_sf:
                off, pos = read_sleb128(code, pos)
                state.cfa = CFARule(state.cfa.register, off * daf, state.cfa.expression)
                continue
            elif op == DW_CFA_def_cfa_expression:
                size, pos = read_uleb128(code, pos)
                if pos + size > end:
                    raise CFIError("expression runs past the instructions", section, entry_offset)
                state.cfa = CFARule(state.cfa.register, state.cfa.offset, bytes(code[pos : pos + size]))
                pos += size
                continue
            elif op in (DW_CFA_expression, DW_CFA_val_expression):
                reg, pos = read_uleb128(code, pos)
                size, pos = read_uleb128(code, pos)
                if pos + size > end:
                    raise CFIError("expression runs past the instructions", section, entry_offset)
                kind = EXPRESSION if op == DW_CFA_expression else VAL_EXPRESSION
                regs[_check_reg(reg)] = Rule(kind, bytes(code[pos : pos + size]))
                pos += size
                continue
            elif op == DW_CFA_GNU_args_size:
                _, pos = read_uleb128(code, pos)  # affects only landing pads, not the rules
                continue
            elif op == DW_CFA_GNU_window_save:
                continue  # SPARC register windows / AArch64 RA signing: no x86-64 meaning
            else:
                raise CFIError(f"unknown DW_CFA opcode {op:#04x}", section, entry_offset)
            # An advance: the row so far ends here.
            if stop_pc is not None and new > stop_pc:
                if len(regs) > max_rules:
                    _check_row(regs, max_rules)
                return loc, new
            if out is not None:
                # Consecutive rows often differ only in the CFA: share their rule dicts.
                if out and out[-1][2] == regs:
                    out.append((loc, state.cfa, out[-1][2]))
                else:
                    _check_row(regs, max_rules)
                    budget.cfi_work += len(regs)
                    if budget.cfi_work > budget.max_cfi_work:
                        budget.cfi_work_exhausted(f"{section} entry at {entry_offset:#x}")
                    copied += len(regs)
                    if copied > budget.rules_per_fde:
                        raise CFIError(f"more than {budget.rules_per_fde:,} register rules in its rows "
                                       f"(cap rules_per_fde, {variable('rules_per_fde')})")
                    out.append((loc, state.cfa, dict(regs)))
                if len(out) >= budget.rows_per_fde:
                    raise CFIError(f"more than {budget.rows_per_fde:,} rows "
                                   f"(cap rows_per_fde, {variable('rows_per_fde')})")
            loc = new
        if len(regs) > max_rules:
            _check_row(regs, max_rules)
    except (IndexError, struct.error):
        raise CFIError("instructions run past the end of the entry", section, entry_offset) from None
    except CFIError as e:
        if e.section:
            raise
        raise CFIError(str(e), section, entry_offset) from None
    return loc, None


def _check_row(regs: dict[int, Rule], max_rules: int) -> None:
    if len(regs) > max_rules:
        raise CFIError(f"{len(regs):,} register rules in one row, more than {max_rules:,} "
                       f"(cap rules_per_row, {variable('rules_per_row')})")


def _check_reg(reg: int) -> int:
    if reg >= MAX_REGISTER:
        raise CFIError(f"register number {reg} is out of range")
    return reg


def _restore(regs: dict[int, Rule], initial: dict[int, Rule] | None, reg: int) -> None:
    rule = initial.get(reg) if initial is not None else None
    if rule is None:
        regs.pop(reg, None)
    else:
        regs[reg] = rule


def _initial_state(cie: CIE, section: str, budget: Budget) -> tuple[CFARule, dict[int, Rule]]:
    """The CIE's initial rules, computed once; a CIE that cannot be run fails once, then from its cache."""
    cached = cie.initial_state
    if cached is None:
        state = _State(UNDEFINED_CFA, {})
        try:
            _execute(cie.instructions, cie, state, None, 0, None, None, section, cie.offset,
                     PointerBases(cie.instructions_address), budget)
        except CFIError as e:
            cie.initial_state = e  # 20,000 FDEs sharing a bad CIE must not run it 20,000 times
            raise
        cached = cie.initial_state = (state.cfa, state.regs)
    elif isinstance(cached, CFIError):
        raise cached
    return cached  # type: ignore[return-value]


def _fresh_state(fde: FDE, budget: Budget) -> tuple[_State, dict[int, Rule]]:
    cfa, initial = _initial_state(fde.cie, fde.section, budget)
    budget.cfi_work += len(initial)
    if budget.cfi_work > budget.max_cfi_work:
        budget.cfi_work_exhausted(f"{fde.section} entry at {fde.offset:#x}")
    return _State(cfa, dict(initial)), initial


def _fde_bases(fde: FDE) -> PointerBases:
    # Instruction operands are read from the instruction bytes: their pcrel base is the
    # address of those bytes in the section (set_loc is the only pointer operand).
    return PointerBases(fde.instructions_address, func=fde.pc_begin)


def rows(fde: FDE, budget: Budget | None = None) -> list[Row]:
    """Every row of ``fde`` that governs an address, in order, with readelf's row boundaries.

    A row is produced each time an advance instruction moves the location, so
    advances by zero give rows of zero length, as in readelf's output. Rows an
    advance put at or past the FDE's end govern nothing and are left out
    (:func:`row_table` keeps them, as readelf lists them).
    """
    table = row_table(fde, budget)
    end_pc = fde.pc_end
    kept = [table[0]] + [r for r in table[1:] if r[0] < end_pc]
    ends = [r[0] for r in kept[1:]]
    ends.append(max(end_pc, kept[-1][0]))
    return [Row(loc, end, cfa, regs, fde) for (loc, cfa, regs), end in zip(kept, ends)]


def row_table(fde: FDE, budget: Budget | None = None) -> list[tuple[int, CFARule, dict[int, Rule]]]:
    """The rows of ``fde`` in their lean form, ``(loc, cfa, regs)``, as readelf lists them.

    Consecutive rows that differ only in the CFA share one ``regs`` dict, so a
    formatter can format each dict once (key it by ``id``). ``budget`` is
    charged for the work (None: only the per-row and per-FDE caps apply).
    """
    if budget is None:
        budget = caps_only()
    bases = _fde_bases(fde)
    state, initial = _fresh_state(fde, budget)
    out: list[tuple[int, CFARule, dict[int, Rule]]] = []
    loc, _ = _execute(fde.instructions, fde.cie, state, initial, fde.pc_begin, None, out, fde.section,
                      fde.offset, bases, budget)
    out.append((loc, state.cfa, out[-1][2] if out and out[-1][2] == state.regs else state.regs))
    return out


def row_at(fde: FDE, pc: int, budget: Budget | None = None) -> Row:
    """The row of ``fde`` that governs ``pc``; decodes instructions only up to ``pc``."""
    if budget is None:
        budget = caps_only()
    bases = _fde_bases(fde)
    state, initial = _fresh_state(fde, budget)
    loc, next_loc = _execute(fde.instructions, fde.cie, state, initial, fde.pc_begin, pc, None, fde.section,
                             fde.offset, bases, budget)
    return Row(loc, fde.pc_end if next_loc is None else next_loc, state.cfa, state.regs, fde)
