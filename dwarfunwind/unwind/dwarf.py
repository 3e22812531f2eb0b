"""One unwind step with CFI: a row and the callee's registers -> the caller's registers.

Pure: memory comes through a ``read_memory(address, size)`` callable, so the
step can run against a core, a live process, a snapshot or a test's dict.
"""

from __future__ import annotations

import struct

from ..arch.x86_64 import CALLEE_SAVED, RA, RSP
from ..cfi.budget import Budget
from ..cfi.rules import EXPRESSION, OFFSET, REGISTER, SAME_VALUE, UNDEFINED, VAL_OFFSET, Row
from ..errors import CFIError, MemoryReadError, RegisterUnavailable

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from ..cfi.expr import evaluate
    from .memory import Locate, ReadWord

    ReadMemory = Callable[[int, int], bytes]
else:

    def evaluate(*args, **kwargs):
        """cfi.expr's, imported on first use: most walks evaluate no DWARF expression (~1.5 ms of start-up)."""
        from ..cfi.expr import evaluate

        return evaluate(*args, **kwargs)


MASK = (1 << 64) - 1


class _Machine:
    """The callee frame as an expression sees it: its known registers and the target's memory."""

    __slots__ = ("regs", "read_memory")

    def __init__(self, regs: dict[int, int], read_memory: ReadMemory) -> None:
        self.regs = regs
        self.read_memory = read_memory

    def read_register(self, regno: int) -> int:
        try:
            return self.regs[regno]
        except KeyError:
            raise RegisterUnavailable(regno) from None


#: A row compiled for the walk: ``(cfa_register, cfa_offset, cfa_expression, carried, rules,
#: outermost, signal_frame, saved, ra_column, row, bias)``. ``carried`` are the callee-saved registers
#: without a rule (they keep their value), ``rules`` the row's ``(register, kind, argument)`` in
#: row order. ``saved`` is set when every rule is "saved at CFA+N" (the usual row): ``(lowest
#: N, struct of the slots from there, their registers)``, to read every slot with one unpack.
#: ``ra_column`` is the CIE's return-address column; ``bias`` the load bias of the row's module
#: (what an expression's file addresses are moved by: DW_OP_addr, DW_OP_GNU_encoded_addr).
Plan = tuple[int, int, "bytes | None", tuple[int, ...], tuple[tuple[int, int, "int | bytes"], ...], bool, bool,
             "tuple[int, struct.Struct, tuple[int, ...]] | None", int, "Row", int]

#: Rows whose saved slots span more than this many bytes are read slot by slot.
MAX_SAVED_SPAN = 512


def compile_row(row: Row, bias: int = 0) -> Plan:
    """Resolve once what :func:`step` would work out from ``row`` on every frame (``bias``: the load bias
    of the module the row came from)."""
    cfa = row.cfa
    ra_column = row.fde.cie.return_address_register
    ra_rule = row.regs.get(ra_column)
    # Only rax..r15 and rip are tracked (a frame starts with no others): a rule for a column
    # nothing can read is not evaluated, so a row of 512 rules costs no more than 17.
    rules = tuple((regno, rule.kind, rule.arg) for regno, rule in row.regs.items()
                  if regno <= RA or regno == ra_column)
    saved = None
    offsets = sorted((arg, regno) for regno, kind, arg in rules if kind == OFFSET and isinstance(arg, int))
    if rules and len(offsets) == len(rules) and all(b[0] >= a[0] + 8 for a, b in zip(offsets, offsets[1:])):
        low = offsets[0][0]
        if offsets[-1][0] - low <= MAX_SAVED_SPAN:
            fmt, pos = "<", low
            for off, _ in offsets:
                fmt += f"{off - pos}xQ" if off > pos else "Q"
                pos = off + 8
            saved = (low, struct.Struct(fmt), tuple(regno for _, regno in offsets))
    return (cfa.register, cfa.offset, cfa.expression,
            tuple(sorted(r for r in CALLEE_SAVED if r not in row.regs and r != RSP)), rules,
            ra_rule is None or ra_rule.kind == UNDEFINED, row.signal_frame, saved, ra_column, row, bias)


def step(row: Row, regs: dict[int, int], read_memory: ReadMemory,
         budget: Budget | None = None, bias: int = 0) -> tuple[int, dict[int, int], bool]:
    """Apply ``row`` to the callee's ``regs``.

    Returns ``(cfa, caller_regs, outermost)``. ``caller_regs`` holds only what
    the rules determine: registers with a rule, callee-saved registers without
    one (they keep their value), rsp = CFA unless a rule says otherwise, and rip
    (16) from the rule of the CIE's return-address column (16 unless
    ``.cfi_return_column`` said otherwise, as libgcc and gdb read it).
    ``outermost`` is True when the return address is undefined (``_start``,
    ``clone3``). Expression steps are charged to ``budget``. Raises
    MemoryReadError, RegisterUnavailable, ExpressionError, CFIError (undefined
    CFA) or BudgetExceeded. ``bias`` is the load bias of ``row``'s module (what the file addresses
    in its expressions are moved by).
    """
    return step_plan(compile_row(row, bias), regs, lambda a: int.from_bytes(read_memory(a, 8), "little"), None,
                     read_memory, budget)


def step_plan(plan: Plan, regs: dict[int, int], read_word: ReadWord, locate: Locate | None,
              read_memory: ReadMemory, budget: Budget | None = None) -> tuple[int, dict[int, int], bool]:
    """:func:`step` with a compiled row.

    ``read_word(address)`` reads one little-endian u64; ``locate`` (may be None) finds bytes
    the target can hand over in place (dwarfunwind.unwind.memory).
    """
    cfa_reg, cfa_off, cfa_expr, carried, rules, outermost, _, saved, ra_column, row, bias = plan
    if cfa_expr is not None:
        # A CFA expression starts with an empty stack (DWARF 5, 6.4.2.2).
        cfa = evaluate(cfa_expr, _Machine(regs, read_memory), [], budget, bias, (row.fde.pc_begin + bias) & MASK)
    elif cfa_reg < 0:
        fde = row.fde
        raise CFIError(f"the CFA is undefined at {row.loc:#x} (no DW_CFA_def_cfa)", fde.section, fde.offset)
    else:
        try:
            cfa = (regs[cfa_reg] + cfa_off) & MASK
        except KeyError:
            raise RegisterUnavailable(cfa_reg) from None
    # Callee-saved registers without a rule keep their value (psABI; gdb and libgcc agree).
    caller = {}
    for r in carried:  # (a loop: a comprehension is a function call of its own, on every step)
        if r in regs:
            caller[r] = regs[r]
    caller[RSP] = cfa
    where = None
    if saved is not None and locate is not None:
        low, slots, names = saved
        where = locate((cfa + low) & MASK, slots.size)
    if where is not None:  # every slot readable in place: one unpack for the whole row
        caller.update(zip(names, slots.unpack_from(where[0], where[1])))
    else:
        machine = None
        for regno, kind, arg in rules:
            if kind == OFFSET:
                try:
                    caller[regno] = read_word((cfa + arg) & MASK)  # type: ignore[operator]
                except MemoryReadError:
                    if regno == ra_column:
                        raise
                    # A slot that cannot be read leaves that register unknown; the walk needs only the
                    # return address (gcc's epilogues keep rules for slots already popped, below a
                    # sample's stack copy).
                    caller.pop(regno, None)
            elif kind == VAL_OFFSET:
                caller[regno] = (cfa + arg) & MASK  # type: ignore[operator]
            elif kind == SAME_VALUE:
                if regno in regs:
                    caller[regno] = regs[regno]
                else:
                    caller.pop(regno, None)
            elif kind == UNDEFINED:
                caller.pop(regno, None)
            elif kind == REGISTER:
                if arg in regs:
                    caller[regno] = regs[arg]
                else:
                    caller.pop(regno, None)
            else:
                if machine is None:
                    machine = _Machine(regs, read_memory)
                # A register expression starts with the CFA pushed (DWARF 5, 6.4.2.3).
                value = evaluate(arg, machine, [cfa], budget, bias,  # type: ignore[arg-type]
                                 (row.fde.pc_begin + bias) & MASK)
                if kind == EXPRESSION:
                    value = int.from_bytes(read_memory(value, 8), "little")
                caller[regno] = value
    if ra_column != RA:
        if ra_column in caller:
            caller[RA] = caller[ra_column]
        else:
            caller.pop(RA, None)
    if outermost:
        caller.pop(RA, None)
    return cfa, caller, outermost
