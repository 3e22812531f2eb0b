"""The abstract machine state of ``check``: what each register and stack slot holds, symbolically.

A value is a pair ``(base, offset)``:

- ``base == CFA``: the Canonical Frame Address plus ``offset`` (rsp at entry is ``(CFA, -8)``);
- ``base == ALIGNED``: an address derived from a realigned stack pointer (``and $-16,%rsp``);
  it is a stack address, but at an unknown distance from the CFA;
- ``base == r`` (a DWARF register number, 0..15, or 16 for the return address): the value
  register ``r`` had at function entry, plus ``offset``;
- ``None``: anything else (a computed value, a load from unknown memory).

Stack slots are keyed by their address as a value, ``(CFA, -16)`` or ``(ALIGNED, 8)``.
A slot absent from the map holds whatever was there before the function ran.
"""

from __future__ import annotations

from ..arch.x86_64 import GPR_NAMES, RA

CFA = -1
ALIGNED = -2
CONST = -3  # only on the stack of the symbolic expression evaluator

Value = "tuple[int, int] | None"


def describe(value: tuple[int, int] | None) -> str:
    """A short human description of an abstract value."""
    if value is None:
        return "an unknown value"
    base, off = value
    if base == CFA:
        return f"CFA{off:+d}" if off else "CFA"
    if base == ALIGNED:
        return "a realigned stack address"
    if base == CONST:
        return f"{off:#x}"
    name = "the return address" if base == RA else f"{GPR_NAMES[base]}'s entry value"
    return f"{name}{off:+d}" if off else name


class State:
    """Registers (DWARF numbering 0..15) and known stack slots, mutated along one path."""

    __slots__ = ("regs", "mem")

    def __init__(self, regs: list[tuple[int, int] | None], mem: dict[tuple[int, int], tuple[int, int] | None]) -> None:
        self.regs = regs
        self.mem = mem

    def copy(self) -> "State":
        return State(list(self.regs), dict(self.mem))

    def key(self) -> tuple[object, ...]:
        """Hashable identity, for seeing whether a join changed anything."""
        return (tuple(self.regs), tuple(sorted(self.mem.items(), key=lambda kv: kv[0])))

    def merge(self, other: "State") -> bool:
        """Widen self with other (differing values become unknown); True if self changed."""
        if self.regs == other.regs and self.mem == other.mem:
            return False
        changed = False
        regs = self.regs
        for i, (a, b) in enumerate(zip(regs, other.regs)):
            if a != b and a is not None:
                regs[i] = None
                changed = True
        mem = self.mem
        for k, v in list(mem.items()):
            if v is not None and other.mem.get(k, _ABSENT) != v:
                if k[0] != CFA or k[1] < -8:
                    del mem[k]  # see analyze._store: below the entry sp, absent means unknown
                else:
                    mem[k] = None
                changed = True
        for k in other.mem:
            if k not in mem and not (k[0] != CFA or k[1] < -8):
                mem[k] = None
                changed = True
        return changed


_ABSENT = (-99, 0)
