"""One unwind step with CFI: a row and the callee's registers -> the caller's registers.

Pure: memory comes through a ``read_memory(address, size)`` callable, so the
step can run against a core, a live process, a snapshot or a test's dict.
"""

from __future__ import annotations

from collections.abc import Callable

from ..arch.x86_64 import CALLEE_SAVED, RA, RSP
from ..cfi.budget import Budget
from ..cfi.expr import RegisterUnavailable, evaluate
from ..cfi.rules import EXPRESSION, OFFSET, REGISTER, SAME_VALUE, UNDEFINED, VAL_OFFSET, Row
from ..errors import CFIError, MemoryReadError

ReadMemory = Callable[[int, int], bytes]
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


def compute_cfa(row: Row, regs: dict[int, int], read_memory: ReadMemory, budget: Budget | None = None) -> int:
    """The CFA of the frame described by ``row``, whose registers are ``regs``.

    A row whose CFA nothing defined (``.cfi_startproc simple``) raises CFIError.
    """
    cfa = row.cfa
    if cfa.expression is not None:
        # A CFA expression starts with an empty stack (DWARF 5, 6.4.2.2).
        return evaluate(cfa.expression, _Machine(regs, read_memory), [], budget)
    if cfa.register < 0:
        fde = row.fde
        raise CFIError(f"the CFA is undefined at {row.loc:#x} (no DW_CFA_def_cfa)", fde.section, fde.offset)
    try:
        return (regs[cfa.register] + cfa.offset) & MASK
    except KeyError:
        raise RegisterUnavailable(cfa.register) from None


def step(row: Row, regs: dict[int, int], read_memory: ReadMemory,
         budget: Budget | None = None) -> tuple[int, dict[int, int], bool]:
    """Apply ``row`` to the callee's ``regs``.

    Returns ``(cfa, caller_regs, outermost)``. ``caller_regs`` holds only what
    the rules determine: registers with a rule, callee-saved registers without
    one (they keep their value), rsp = CFA unless a rule says otherwise, and rip
    (16) from the rule of the CIE's return-address column (16 unless
    ``.cfi_return_column`` said otherwise, as libgcc and gdb read it).
    ``outermost`` is True when the return address is undefined (``_start``,
    ``clone3``). Expression steps are charged to ``budget``. Raises
    MemoryReadError, RegisterUnavailable, ExpressionError, CFIError (undefined
    CFA) or BudgetExceeded.
    """
    cfa = compute_cfa(row, regs, read_memory, budget)
    caller: dict[int, int] = {}
    # Callee-saved registers without a rule keep their value (psABI; gdb and libgcc agree).
    for r in CALLEE_SAVED:
        if r in regs:
            caller[r] = regs[r]
    caller[RSP] = cfa
    caller.pop(RA, None)
    machine = None
    ra_column = row.fde.cie.return_address_register
    ra_rule = row.regs.get(ra_column)
    outermost = ra_rule is None or ra_rule.kind == UNDEFINED
    for regno, rule in row.regs.items():
        if regno > RA and regno != ra_column:
            # Only rax..r15 and rip are tracked (a frame starts with no others): a rule for a
            # column nothing can read is not evaluated, so a row of 512 rules costs no more than 17.
            continue
        kind = rule.kind
        if kind == OFFSET:
            try:
                caller[regno] = int.from_bytes(read_memory((cfa + rule.arg) & MASK, 8), "little")  # type: ignore[operator]
            except MemoryReadError:
                if regno == ra_column:
                    raise
                # A slot that cannot be read leaves that register unknown; the walk needs only the return
                # address (gcc's epilogues keep rules for slots already popped, below a sample's stack copy).
                caller.pop(regno, None)
        elif kind == VAL_OFFSET:
            caller[regno] = (cfa + rule.arg) & MASK  # type: ignore[operator]
        elif kind == SAME_VALUE:
            if regno in regs:
                caller[regno] = regs[regno]
            else:
                caller.pop(regno, None)
        elif kind == UNDEFINED:
            caller.pop(regno, None)
        elif kind == REGISTER:
            if rule.arg in regs:
                caller[regno] = regs[rule.arg]
            else:
                caller.pop(regno, None)
        else:
            if machine is None:
                machine = _Machine(regs, read_memory)
            # A register expression starts with the CFA pushed (DWARF 5, 6.4.2.3).
            value = evaluate(rule.arg, machine, [cfa], budget)  # type: ignore[arg-type]
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
