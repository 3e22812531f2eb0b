"""Simulate a function's prologue on a model machine: ground truth for rows and unwinding.

:class:`FrameBuilder` starts from the caller's registers (chosen first), performs
the ``call`` and then layout operations one by one -- pushes, stack
adjustments, stores of callee-saved registers to slots, frame-pointer setup,
stack realignment, copies to scratch registers, ``val_offset`` registers --
updating the callee's registers, the stack memory *and* the CFI rules that
describe them. Nothing here knows about encodings; hypothesis is not imported.
"""

from __future__ import annotations

from ..arch.x86_64 import CALLEE_SAVED, RA, RBP, REGNO, RSP, SIGCONTEXT_GREGS, UCONTEXT_MCONTEXT_OFFSET
from ..cfi.encoding import encode_sleb128
from ..cfi.rules import EXPRESSION, OFFSET, REGISTER, SAME_VALUE, UNDEFINED, VAL_OFFSET, CFARule, Rule
from .model import ENTRY_CFA, ENTRY_REGS, MASK64, FrameCase, MachineSnapshot, ModelRow

#: Callee-saved GPRs other than rsp: the registers a prologue saves.
SAVEABLE: tuple[int, ...] = tuple(sorted(CALLEE_SAVED - {RSP}))
#: Caller-saved GPRs: free for a prologue to use as scratch.
SCRATCH: tuple[int, ...] = tuple(r for r in range(16) if r not in CALLEE_SAVED)

DW_OP_breg6, DW_OP_breg7, DW_OP_deref = 0x76, 0x77, 0x06


def breg(reg: int, offset: int) -> bytes:
    """``DW_OP_bregN offset``."""
    return bytes([0x70 + reg]) + encode_sleb128(offset)


def clobber(value: int) -> int:
    """A value certainly different from ``value``: what a callee leaves in a register it reused."""
    return (value * 0x9E3779B97F4A7C15 + 0x5DEECE66D) & MASK64 ^ 0x1


class FrameBuilder:
    """A callee frame under construction; see the module docstring.

    ``caller`` must hold all 16 GPRs and rip (column 16). After each
    operation, call :meth:`end_instruction` with the instruction's length: the
    CFI change takes effect after the instruction, as a compiler emits it.
    """

    def __init__(self, caller: dict[int, int]) -> None:
        self.caller = dict(caller)
        self.cfa_value = caller[RSP]  # the CFA of an x86-64 frame is the caller's rsp
        self.regs = {r: v for r, v in caller.items() if r != RA}
        self.memory: dict[int, int] = {}
        # The call: push the return address.
        self.regs[RSP] = (caller[RSP] - 8) & MASK64
        self._write(self.regs[RSP], caller[RA])
        self.cfa = ENTRY_CFA
        self.rules: dict[int, Rule] = dict(ENTRY_REGS)
        self.saved: set[int] = set()
        self.scratch_used: set[int] = set()
        self.free_slots: list[int] = []
        self.pushes: list[int] = []  # registers pushed since the last other stack change (poppable)
        self.frame_pointer = False
        self.realigned = False
        self.ops: list[tuple] = []
        self.loc = 0
        self._rows: list[ModelRow] = [ModelRow.make(0, self.cfa, self.rules)]
        self._states: list[MachineSnapshot] = []
        self._pending = (dict(self.regs), dict(self.memory))  # the state before the next instruction

    # -- memory --------------------------------------------------------------------------------

    def _write(self, address: int, value: int) -> None:
        for i, b in enumerate(value.to_bytes(8, "little")):
            self.memory[(address + i) & MASK64] = b

    def _read(self, address: int) -> int:
        return int.from_bytes(bytes(self.memory[(address + i) & MASK64] for i in range(8)), "little")

    def _push(self, value: int) -> int:
        self.regs[RSP] = (self.regs[RSP] - 8) & MASK64
        self._write(self.regs[RSP], value)
        if not self.frame_pointer and not self.realigned:
            self.cfa = CFARule(RSP, self.cfa.offset + 8, None)
        return self.regs[RSP]

    def _slot_rule(self, slot: int) -> Rule:
        """The rule for a register saved at ``slot``: CFA-relative, or rbp-relative once realigned."""
        if self.realigned:
            # After realignment the CFA-to-slot distance is unknown statically (GCC uses breg6 too).
            return Rule(EXPRESSION, breg(RBP, slot - self.regs[RBP]))
        return Rule(OFFSET, slot - self.cfa_value)

    # -- what is possible now ------------------------------------------------------------------

    def unsaved(self) -> list[int]:
        return [r for r in SAVEABLE if r not in self.saved and not (r == RBP and self.frame_pointer)]

    def free_scratch(self) -> list[int]:
        return [r for r in SCRATCH if r not in self.scratch_used]

    def possible(self) -> list[str]:
        """Names of the operations valid in the current state."""
        ops = ["sub", "push_scratch"]
        if self.unsaved():
            ops += ["push", "valoff", "same"]
            if self.free_slots:
                ops.append("store")
            if self.free_scratch():
                ops.append("movreg")
        if self.free_scratch():
            ops.append("undef")
        if self.pushes and not self.realigned:
            ops.append("pop")
        if RBP in self.saved and not self.frame_pointer and not self.realigned and self.cfa.register == RSP \
                and self.rules.get(RBP, Rule(0)).kind == OFFSET:
            ops.append("setfp")
        if not self.realigned and not self.frame_pointer and RBP not in self.saved and 10 not in self.scratch_used:
            ops.append("realign")
        return ops

    # -- operations ----------------------------------------------------------------------------

    def push(self, reg: int) -> None:
        """``push reg`` of an unsaved callee-saved register, then reuse it."""
        slot = self._push(self.regs[reg])
        self.rules[reg] = self._slot_rule(slot)
        self.saved.add(reg)
        self.regs[reg] = clobber(self.regs[reg])
        self.pushes.append(reg)
        self.ops.append(("push", reg))

    def push_scratch(self, reg: int) -> None:
        """``push reg`` of a caller-saved register: only the stack (and a rsp-based CFA) changes."""
        self._push(self.regs[reg])
        self.pushes.clear()
        self.ops.append(("push_scratch", reg))

    def pop(self) -> None:
        """``pop reg`` of the last pushed callee-saved register: its rule goes back to none."""
        reg = self.pushes.pop()
        self.regs[reg] = self._read(self.regs[RSP])
        self.regs[RSP] = (self.regs[RSP] + 8) & MASK64
        if not self.frame_pointer:
            self.cfa = CFARule(RSP, self.cfa.offset - 8, None)
        del self.rules[reg]
        self.saved.discard(reg)
        self.ops.append(("pop", reg))

    def sub(self, size: int) -> None:
        """``sub rsp, size``: new free slots for stores."""
        self.regs[RSP] = (self.regs[RSP] - size) & MASK64
        if not self.frame_pointer and not self.realigned:
            self.cfa = CFARule(RSP, self.cfa.offset + size, None)
        self.free_slots += [self.regs[RSP] + i for i in range(0, size, 8)]
        self.pushes.clear()
        self.ops.append(("sub", size))

    def store(self, reg: int, slot_index: int) -> None:
        """``mov [slot], reg`` of an unsaved callee-saved register into allocated stack."""
        slot = self.free_slots.pop(slot_index % len(self.free_slots))
        self._write(slot, self.regs[reg])
        self.rules[reg] = self._slot_rule(slot)
        self.saved.add(reg)
        self.regs[reg] = clobber(self.regs[reg])
        self.ops.append(("store", reg, slot - self.cfa_value))

    def movreg(self, reg: int, scratch: int) -> None:
        """``mov scratch, reg``: the caller's value lives on in a caller-saved register."""
        self.regs[scratch] = self.regs[reg]
        self.scratch_used.add(scratch)
        self.rules[reg] = Rule(REGISTER, scratch)
        self.saved.add(reg)
        self.regs[reg] = clobber(self.regs[reg])
        self.ops.append(("movreg", reg, scratch))

    def valoff(self, reg: int, offset: int) -> None:
        """A register whose caller value is CFA+offset (a pointer into the caller's frame).

        The caller's value is rewritten to make the rule true; the register
        was untouched so far, so earlier states are rewritten with it.
        """
        value = (self.cfa_value + offset) & MASK64
        self.caller[reg] = value
        for s in self._states:
            s.regs[reg] = value
        self._pending[0][reg] = value
        self.rules[reg] = Rule(VAL_OFFSET, offset)
        self.saved.add(reg)
        self.regs[reg] = clobber(value)
        self.ops.append(("valoff", reg, offset))

    def same(self, reg: int) -> None:
        """An explicit same_value rule for an untouched callee-saved register."""
        self.rules[reg] = Rule(SAME_VALUE, 0)
        self.ops.append(("same", reg))

    def undef(self, scratch: int) -> None:
        """An explicit undefined rule for a caller-saved register, which the callee then reuses."""
        self.rules[scratch] = Rule(UNDEFINED, 0)
        self.scratch_used.add(scratch)
        self.regs[scratch] = clobber(self.regs[scratch])
        self.ops.append(("undef", scratch))

    def setfp(self) -> None:
        """``mov rbp, rsp`` after ``push rbp``: the CFA moves to rbp."""
        self.regs[RBP] = self.regs[RSP]
        self.cfa = CFARule(RBP, (self.cfa_value - self.regs[RSP]) & MASK64, None)
        self.frame_pointer = True
        self.pushes.clear()
        self.ops.append(("setfp",))

    def realign(self, align: int) -> None:
        """GCC's realigned prologue (``-mstackrealign``/``__attribute__((aligned))`` locals)::

            lea r10, [rsp+8]; and rsp, -align; push [r10-8]; push rbp; mov rbp, rsp; push r10

        CFA = *(rbp-8) (an expression) and rbp saved at rbp+0 (an expression rule).
        """
        self.regs[10] = self.cfa_value
        self.scratch_used.add(10)
        self.regs[RSP] &= -align & MASK64
        self.realigned = True
        self._push(self._read(self.cfa_value - 8))
        self._push(self.regs[RBP])
        self.regs[RBP] = self.regs[RSP]
        self._push(self.regs[10])
        self.cfa = CFARule(10, 0, breg(RBP, -8) + bytes([DW_OP_deref]))
        self.rules[RBP] = Rule(EXPRESSION, breg(RBP, 0))
        self.saved.add(RBP)
        self.frame_pointer = True
        self.pushes.clear()
        self.free_slots.clear()
        self.ops.append(("realign", align))

    # -- rows and states -----------------------------------------------------------------------

    def end_instruction(self, length: int) -> None:
        """Close the instruction just performed (``length`` bytes): snapshot and emit a row.

        At a pc inside the instruction it has not completed yet, so that range
        gets the state from *before* it; the new row starts after it.
        """
        regs, memory = self._pending
        self._states.append(MachineSnapshot(self.loc, self.loc + length, regs, memory))
        self.loc += length
        self._pending = (dict(self.regs), dict(self.memory))
        row = ModelRow.make(self.loc, self.cfa, self.rules)
        if (row.cfa, row.regs) != (self._rows[-1].cfa, self._rows[-1].regs):
            self._rows.append(row)

    def finish(self, tail: int) -> FrameCase:
        """End the function with ``tail`` more bytes (its body) and return the case."""
        regs, memory = self._pending
        self._states.append(MachineSnapshot(self.loc, self.loc + tail, regs, memory))
        length = self.loc + tail
        expected = {r: self.caller[r] for r in CALLEE_SAVED}
        expected[RA] = self.caller[RA]
        return FrameCase("ordinary", list(self.ops), list(self._rows), self._states, self.caller, expected, length)


def signal_frame(caller: dict[int, int], base_gap: int, cfa_as_expression: bool, regs_as_expressions: bool,
                 length: int) -> FrameCase:
    """A kernel signal frame as glibc's ``__restore_rt`` sees it: every GPR and rip saved.

    The callee's rsp points at the rt_sigframe; ``uc_mcontext.gregs`` sits
    :data:`UCONTEXT_MCONTEXT_OFFSET` bytes above it in SIGCONTEXT_GREGS order.
    glibc describes it with a CFA expression ``*(rsp+160)`` and ``breg7``
    expression rules; the alternative form is CFA = rsp+K and offset rules.
    """
    frame = ((caller[RSP] - 128 - base_gap) & ~0xF) - 8  # below the red zone, like the kernel
    memory: dict[int, int] = {}
    slot_of: dict[int, int] = {}
    for i, name in enumerate(SIGCONTEXT_GREGS):
        regno = REGNO[name]
        slot = frame + UCONTEXT_MCONTEXT_OFFSET + 8 * i
        slot_of[regno] = slot
        for j, b in enumerate(caller[regno].to_bytes(8, "little")):
            memory[slot + j] = b
    callee = {r: clobber(caller[r]) for r in range(16)}
    callee[RSP] = frame
    callee[0] = 15  # rax = __NR_rt_sigreturn
    rsp_slot = slot_of[RSP] - frame
    if cfa_as_expression:
        cfa = CFARule(RSP, 8, breg(RSP, rsp_slot) + bytes([DW_OP_deref]))
        cfa_value = caller[RSP]
    else:
        cfa = CFARule(RSP, rsp_slot + 8, None)
        cfa_value = frame + rsp_slot + 8
    rules: dict[int, Rule] = {}
    for regno, slot in slot_of.items():
        if regs_as_expressions:
            rules[regno] = Rule(EXPRESSION, breg(RSP, slot - frame))
        else:
            rules[regno] = Rule(OFFSET, slot - cfa_value)
    rows = [ModelRow.make(0, cfa, rules)]
    expected = {r: caller[r] for r in range(16)}
    expected[RA] = caller[RA]
    state = MachineSnapshot(0, length, callee, memory)
    ops = [("signal", base_gap, cfa_as_expression, regs_as_expressions)]
    return FrameCase("signal", ops, rows, [state], dict(caller), expected, length)
