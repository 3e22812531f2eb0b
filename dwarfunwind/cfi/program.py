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
    located,
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



# -- interned rules and register states ---------------------------------------------------------
#
# A file's CFI holds a few hundred distinct rules and a few dozen distinct register-rule sets
# (67 in all of libc), met tens of thousands of times. The interpreter shares one object per
# value: a register rule set is a canonical dict, never mutated, and an instruction that
# changes it moves to another canonical dict through a memo of transitions. Rows then cost no
# copies, equal rows share their dict, and a formatter renders each set once (by ``id``).
# Every table is bounded so hostile CFI cannot grow them without limit, and only small sets
# are canonical: past either bound a set is a private dict of the run, changed in place
# (O(1) per instruction, as it always was) and copied into rows and remembered states.

_MAX_INTERNED = 1 << 14
_MAX_STATES = 1 << 16
_MAX_TRANSITIONS = 1 << 18
#: Sets with more rules than this are never canonical (each change would copy them).
_MAX_CANONICAL_RULES = 64
_OFFSET_RULES: dict[int, Rule] = {}
_CFA_RULES: dict[tuple[int, int], CFARule] = {}
_EMPTY: dict[int, Rule] = {}
_STATES: dict[tuple[tuple[int, Rule], ...], dict[int, Rule]] = {(): _EMPTY}
#: ids of the canonical sets (they live for ever, so an id here is never another object's).
_CANONICAL: set[int] = {id(_EMPTY)}
#: (id(state), register, rule or None for "no rule") -> the state after the change.
_TRANSITIONS: dict[tuple[int, int, Rule | None], dict[int, Rule]] = {}
#: (id(state), DW_CFA_offset opcode, offset): its transitions, keyed by plain ints (fast to hash).
_OFFSET_TRANSITIONS: dict[tuple[int, int, int], dict[int, Rule]] = {}


def _intern_offset(off: int) -> Rule:
    rule = Rule(OFFSET, off)
    if len(_OFFSET_RULES) < _MAX_INTERNED:
        _OFFSET_RULES[off] = rule
    return rule


def _intern_cfa(register: int, offset: int) -> CFARule:
    key = (register, offset)
    rule = _CFA_RULES.get(key)
    if rule is None:
        rule = CFARule(register, offset, None)
        if len(_CFA_RULES) < _MAX_INTERNED:
            _CFA_RULES[key] = rule
    return rule


def _own(regs: dict[int, Rule]) -> dict[int, Rule]:
    """``regs`` to keep (in a row, a remembered state, a cache): canonical ones as they are, others copied."""
    return regs if id(regs) in _CANONICAL else dict(regs)


def _set_rule(regs: dict[int, Rule], reg: int, rule: Rule | None) -> dict[int, Rule]:
    """The register state ``regs`` with ``reg``'s rule replaced (removed when ``rule`` is None)."""
    key = (id(regs), reg, rule)
    new = _TRANSITIONS.get(key)
    if new is None:
        new = _transition(regs, reg, rule, _TRANSITIONS, key)
    return new


def _transition(regs: dict[int, Rule], reg: int, rule: Rule | None, memo: dict, key: tuple) -> dict[int, Rule]:
    canonical_from = id(regs) in _CANONICAL
    new = dict(regs) if canonical_from else regs  # a private set is changed in place
    if rule is None:
        new.pop(reg, None)
    else:
        new[reg] = rule  # an existing register keeps its place: the order is the order of first rule
    if len(new) > _MAX_CANONICAL_RULES:
        return new
    items = tuple(new.items())
    canonical = _STATES.get(items)
    if canonical is None:
        if len(_STATES) >= _MAX_STATES:
            return new
        canonical = _STATES[items] = new if canonical_from else dict(new)
        _CANONICAL.add(id(canonical))
    # Remembered only from a canonical state: those live for ever, so their id is never reused.
    if canonical_from and len(memo) < _MAX_TRANSITIONS:
        memo[key] = canonical
    return canonical


def _execute(
    code: bytes,
    cie: CIE,
    cfa: CFARule,
    regs: dict[int, Rule],
    initial: dict[int, Rule] | None,
    loc: int,
    stop_pc: int | None,
    out: list[tuple[int, CFARule, dict[int, Rule]]] | None,
    section: str,
    entry_offset: int,
    insn_address: int,
    func: int | None,
    budget: Budget,
) -> tuple[int, int | None, CFARule, dict[int, Rule]]:
    """Run ``code`` from the row ``(cfa, regs)``; return ``(loc, next_loc, cfa, regs)``.

    Each time the location advances, the row in force so far is appended to ``out`` (when
    given); with ``stop_pc`` the run ends as soon as the location would pass it, and the
    returned row is the one governing ``stop_pc``; ``next_loc`` is where that row ends (None
    when the instructions ran out first). ``initial`` is the CIE's register state
    (DW_CFA_restore), ``insn_address`` (the address of ``code``) and ``func`` are the bases of
    a DW_CFA_set_loc operand. ``regs`` is a canonical state or one this run may change (see
    ``_transition``). Instruction bytes and every rule copied are charged to ``budget``.
    """
    # The budget's counter and caps are kept in locals for the run (this is the hot path; see
    # Budget.spend_cfi_work) and the counter is stored back however the run ends.
    work = budget.cfi_work + len(code)
    max_work = budget.max_cfi_work
    if work > max_work:
        budget.cfi_work = work
        budget.cfi_work_exhausted(f"{section} entry at {entry_offset:#x}")
    max_rules = budget.rules_per_row
    max_rows = budget.rows_per_fde
    max_copied = budget.rules_per_fde
    copied = 0
    canonical = _CANONICAL
    # The rules of the last row appended to ``out``: a row with equal rules shares them.
    prev = out[-1][2] if out else None
    caf = cie.code_alignment_factor
    daf = cie.data_alignment_factor
    offset_rules = _OFFSET_RULES
    offset_transitions = _OFFSET_TRANSITIONS
    cfa_rules = _CFA_RULES
    stack: list[tuple[CFARule, dict[int, Rule]]] = []
    pos = 0
    end = len(code)
    try:
        while pos < end:
            op = code[pos]
            pos += 1
            if op >= 0x40:
                if op < 0x80:  # DW_CFA_advance_loc
                    new = loc + (op & 0x3F) * caf
                elif op < 0xC0:  # DW_CFA_offset
                    off = code[pos]  # one-byte LEB128 inline: by far the common case
                    if off < 0x80:
                        pos += 1
                    else:
                        off, pos = read_uleb128(code, pos)
                    off *= daf
                    key = (id(regs), op, off)
                    state = offset_transitions.get(key)
                    if state is None:
                        rule = offset_rules.get(off)
                        if rule is None:
                            rule = _intern_offset(off)
                        state = _transition(regs, op & 0x3F, rule, offset_transitions, key)
                    regs = state
                    continue
                else:  # DW_CFA_restore
                    regs = _set_rule(regs, op & 0x3F, initial.get(op & 0x3F) if initial is not None else None)
                    continue
            elif op == DW_CFA_def_cfa_offset:
                off = code[pos]
                if off < 0x80:
                    pos += 1
                else:
                    off, pos = read_uleb128(code, pos)
                if cfa[2] is None:
                    new_cfa = cfa_rules.get((cfa[0], off))
                    cfa = new_cfa if new_cfa is not None else _intern_cfa(cfa[0], off)
                else:  # the expression stays: libgcc's "cfa_how deliberately not set"
                    cfa = CFARule(cfa[0], off, cfa[2])
                continue
            elif op == DW_CFA_nop:
                continue
            elif op == DW_CFA_advance_loc1:
                new = loc + code[pos] * caf
                pos += 1
            elif op == DW_CFA_remember_state:
                if len(stack) >= budget.remember_depth:
                    raise CFIError(f"remember_state nested deeper than {budget.remember_depth} "
                                   f"(cap remember_depth, {variable('remember_depth')})", section, entry_offset)
                work += len(regs)
                if work > max_work:
                    budget.cfi_work_exhausted(f"{section} entry at {entry_offset:#x}")
                stack.append((cfa, _own(regs)))  # canonical states are never changed: no copy
                continue
            elif op == DW_CFA_restore_state:
                if stack:  # with nothing remembered it changes nothing, as in readelf and gdb
                    cfa, saved = stack.pop()
                    work += len(saved)
                    if work > max_work:
                        budget.cfi_work_exhausted(f"{section} entry at {entry_offset:#x}")
                    regs = saved
                continue
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
                value, pos = read_encoded(code, pos, cie.fde_encoding, PointerBases(insn_address, func=func),
                                          cie.address_size)
                new = value or 0
            elif op == DW_CFA_def_cfa:
                reg, pos = read_uleb128(code, pos)
                off, pos = read_uleb128(code, pos)
                cfa = _intern_cfa(_check_reg(reg), off)
                continue
            elif op == DW_CFA_def_cfa_register:
                reg, pos = read_uleb128(code, pos)
                cfa = _intern_cfa(_check_reg(reg), cfa[1])
                continue
            else:
                if op == DW_CFA_offset_extended or op == DW_CFA_val_offset:
                    reg, pos = read_uleb128(code, pos)
                    off, pos = read_uleb128(code, pos)
                    kind = OFFSET if op == DW_CFA_offset_extended else VAL_OFFSET
                    regs = _set_rule(regs, _check_reg(reg), Rule(kind, off * daf))
                elif op == DW_CFA_offset_extended_sf or op == DW_CFA_val_offset_sf:
                    reg, pos = read_uleb128(code, pos)
                    off, pos = read_sleb128(code, pos)
                    kind = OFFSET if op == DW_CFA_offset_extended_sf else VAL_OFFSET
                    regs = _set_rule(regs, _check_reg(reg), Rule(kind, off * daf))
                elif op == DW_CFA_GNU_negative_offset_extended:
                    reg, pos = read_uleb128(code, pos)
                    off, pos = read_uleb128(code, pos)
                    regs = _set_rule(regs, _check_reg(reg), Rule(OFFSET, -off * daf))
                elif op == DW_CFA_restore_extended:
                    reg, pos = read_uleb128(code, pos)
                    reg = _check_reg(reg)
                    regs = _set_rule(regs, reg, initial.get(reg) if initial is not None else None)
                elif op == DW_CFA_undefined:
                    reg, pos = read_uleb128(code, pos)
                    regs = _set_rule(regs, _check_reg(reg), UNDEFINED_RULE)
                elif op == DW_CFA_same_value:
                    reg, pos = read_uleb128(code, pos)
                    regs = _set_rule(regs, _check_reg(reg), SAME_VALUE_RULE)
                elif op == DW_CFA_register:
                    reg, pos = read_uleb128(code, pos)
                    reg2, pos = read_uleb128(code, pos)
                    regs = _set_rule(regs, _check_reg(reg), Rule(REGISTER, _check_reg(reg2)))
                elif op == DW_CFA_def_cfa_sf:
                    reg, pos = read_uleb128(code, pos)
                    off, pos = read_sleb128(code, pos)
                    cfa = _intern_cfa(_check_reg(reg), off * daf)
                elif op == DW_CFA_def_cfa_offset_sf:
                    off, pos = read_sleb128(code, pos)
                    cfa = _intern_cfa(cfa[0], off * daf) if cfa[2] is None else CFARule(cfa[0], off * daf, cfa[2])
                elif op == DW_CFA_def_cfa_expression:
                    size, pos = read_uleb128(code, pos)
                    if pos + size > end:
                        raise CFIError("expression runs past the instructions", section, entry_offset)
                    cfa = CFARule(cfa[0], cfa[1], located(bytes(code[pos : pos + size]), insn_address + pos,
                                                          cie.is_eh))
                    pos += size
                elif op == DW_CFA_expression or op == DW_CFA_val_expression:
                    reg, pos = read_uleb128(code, pos)
                    size, pos = read_uleb128(code, pos)
                    if pos + size > end:
                        raise CFIError("expression runs past the instructions", section, entry_offset)
                    kind = EXPRESSION if op == DW_CFA_expression else VAL_EXPRESSION
                    expr = located(bytes(code[pos : pos + size]), insn_address + pos, cie.is_eh)
                    regs = _set_rule(regs, _check_reg(reg), Rule(kind, expr))
                    pos += size
                elif op == DW_CFA_GNU_args_size:
                    _, pos = read_uleb128(code, pos)  # affects only landing pads, not the rules
                elif op == DW_CFA_GNU_window_save:
                    pass  # SPARC register windows / AArch64 RA signing: no x86-64 meaning
                else:
                    raise CFIError(f"unknown DW_CFA opcode {op:#04x}", section, entry_offset)
                continue
            # An advance: the row so far ends here.
            if stop_pc is not None and new > stop_pc:
                if len(regs) > max_rules:
                    _check_row(regs, max_rules)
                return loc, new, cfa, regs
            if out is not None:
                # Comparing or copying the rules costs one unit per rule either way.
                work += len(regs)
                if work > max_work:
                    budget.cfi_work_exhausted(f"{section} entry at {entry_offset:#x}")
                if prev is regs or (prev is not None and prev == regs):
                    out.append((loc, cfa, prev))  # consecutive rows with equal rules share them
                else:
                    if len(regs) > max_rules:
                        _check_row(regs, max_rules)
                    copied += len(regs)
                    if copied > max_copied:
                        raise CFIError(f"more than {max_copied:,} register rules in its rows "
                                       f"(cap rules_per_fde, {variable('rules_per_fde')})")
                    # A canonical set is never changed, so the row keeps it; a private one is copied.
                    prev = regs if id(regs) in canonical else dict(regs)
                    out.append((loc, cfa, prev))
                if len(out) >= max_rows:
                    raise CFIError(f"more than {max_rows:,} rows "
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
    finally:
        budget.cfi_work = work
    return loc, None, cfa, regs


def _check_row(regs: dict[int, Rule], max_rules: int) -> None:
    if len(regs) > max_rules:
        raise CFIError(f"{len(regs):,} register rules in one row, more than {max_rules:,} "
                       f"(cap rules_per_row, {variable('rules_per_row')})")


def _check_reg(reg: int) -> int:
    if reg >= MAX_REGISTER:
        raise CFIError(f"register number {reg} is out of range")
    return reg


def _initial_state(cie: CIE, section: str, budget: Budget) -> tuple[CFARule, dict[int, Rule]]:
    """The CIE's initial rules, computed once; a CIE that cannot be run fails once, then from its cache."""
    cached = cie.initial_state
    if cached is None:
        try:
            _, _, cfa, regs = _execute(cie.instructions, cie, UNDEFINED_CFA, _EMPTY, None, 0, None, None, section,
                                       cie.offset, cie.instructions_address, None, budget)
        except CFIError as e:
            cie.initial_state = e  # 20,000 FDEs sharing a bad CIE must not run it 20,000 times
            raise
        cached = cie.initial_state = (cfa, regs)
    elif isinstance(cached, CFIError):
        raise cached
    return cached  # type: ignore[return-value]


def _fresh_state(fde: FDE, budget: Budget) -> tuple[CFARule, dict[int, Rule], dict[int, Rule]]:
    """``(cfa, regs, initial)`` to run ``fde`` from: ``regs`` is the CIE's rules, copied unless canonical."""
    cached = fde.cie.initial_state
    cfa, initial = cached if type(cached) is tuple else _initial_state(fde.cie, fde.section, budget)
    budget.cfi_work += len(initial)
    if budget.cfi_work > budget.max_cfi_work:
        budget.cfi_work_exhausted(f"{fde.section} entry at {fde.offset:#x}")
    return cfa, _own(initial), initial


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

    Rows with equal register rules usually share one ``regs`` dict (shared: never to be
    mutated), so a formatter can format each dict once (key it by ``id``). ``budget`` is
    charged for the work (None: only the per-row and per-FDE caps apply).
    """
    if budget is None:
        budget = caps_only()
    cfa, regs, initial = _fresh_state(fde, budget)
    code = fde.instructions
    if not any(code) and len(regs) <= budget.rules_per_row:
        # Only DW_CFA_nop: an FDE of padding (4 in 10 in a libc) has the CIE's row, and needs
        # no interpreter. The bytes are charged as the interpreter charges them.
        budget.cfi_work += len(code)
        if budget.cfi_work > budget.max_cfi_work:
            budget.cfi_work_exhausted(f"{fde.section} entry at {fde.offset:#x}")
        return [(fde.pc_begin, cfa, regs)]
    out: list[tuple[int, CFARule, dict[int, Rule]]] = []
    # Instruction operands are read from the instruction bytes: the pcrel base of set_loc
    # (the only pointer operand) is the address of those bytes in the section.
    loc, _, cfa, regs = _execute(code, fde.cie, cfa, regs, initial, fde.pc_begin, None, out, fde.section,
                                 fde.offset, fde.instructions_address, fde.pc_begin, budget)
    prev = out[-1][2] if out else None
    out.append((loc, cfa, prev if prev is not None and (prev is regs or prev == regs) else regs))
    return out


def row_at(fde: FDE, pc: int, budget: Budget | None = None) -> Row:
    """The row of ``fde`` that governs ``pc``; decodes instructions only up to ``pc``."""
    if budget is None:
        budget = caps_only()
    cfa, regs, initial = _fresh_state(fde, budget)
    loc, next_loc, cfa, regs = _execute(fde.instructions, fde.cie, cfa, regs, initial, fde.pc_begin, pc, None,
                                        fde.section, fde.offset, fde.instructions_address, fde.pc_begin, budget)
    return Row(loc, fde.pc_end if next_loc is None else next_loc, cfa, regs, fde)
