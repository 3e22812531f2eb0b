"""One unwind step with frame pointers (the rbp chain), and the pt_regs marker.

Frame layout after ``push %rbp; mov %rsp,%rbp``: ``[rbp]`` is the caller's
rbp, ``[rbp+8]`` the return address, and the caller's rsp is ``rbp+16``.
Nothing else about the caller is known: this method recovers rip, rsp and rbp
only, except across a pt_regs marker frame, which hands over a whole register
block (see docs/seed-scenario.md).
"""

from __future__ import annotations

import struct

from ..arch.x86_64 import PT_REGS_SIZE, PT_REGS_SLOTS, RA, RBP, REGNO, RSP
from ..errors import MemoryReadError

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only
    from collections.abc import Callable

    ReadMemory = Callable[[int, int], bytes]

_PT_REGS = struct.Struct(f"<{len(PT_REGS_SLOTS)}Q")
#: DWARF register number for each pt_regs slot that is a GPR or rip.
_PT_REGS_MAP = [(i, REGNO[name]) for i, name in enumerate(PT_REGS_SLOTS) if name in REGNO]


class FramePointerEnd(Exception):
    """The rbp chain cannot be followed further (the reason is the message)."""


def read_pt_regs(read_memory: ReadMemory, address: int) -> dict[int, int]:
    """All 16 GPRs and rip from a ``struct pt_regs`` at ``address``."""
    values = _PT_REGS.unpack(read_memory(address, PT_REGS_SIZE))
    return {regno: values[slot] for slot, regno in _PT_REGS_MAP}


def step(
    regs: dict[int, int],
    read_memory: ReadMemory,
    is_marker: Callable[[int], bool] | None = None,
) -> tuple[int, dict[int, int], bool]:
    """Follow rbp once. Returns ``(cfa, caller_regs, interrupted)``.

    ``is_marker(return_address)`` recognizes the fake return address
    ``pt_regs+1`` planted by CREATE_PT_REGS_FRAME: the slot above it holds a
    pointer to the interrupted context's pt_regs, and the caller becomes that
    context with every register known (``interrupted`` is True).
    Raises FramePointerEnd or MemoryReadError.
    """
    fp = regs.get(RBP)
    if fp is None:
        raise FramePointerEnd("rbp is not known")
    if fp == 0:
        raise FramePointerEnd("rbp is 0")
    if fp & 7:
        raise FramePointerEnd(f"rbp {fp:#x} is not 8-byte aligned")
    sp = regs.get(RSP)
    if sp is not None and fp < sp:
        raise FramePointerEnd(f"rbp {fp:#x} is below rsp {sp:#x}")
    saved_fp, ra = struct.unpack("<QQ", read_memory(fp, 16))
    if is_marker is not None and is_marker(ra):
        regs_ptr = int.from_bytes(read_memory(fp + 16, 8), "little")
        if regs_ptr < fp + 24:
            raise FramePointerEnd(f"pt_regs pointer {regs_ptr:#x} is not above the marker frame at {fp:#x}")
        try:
            caller = read_pt_regs(read_memory, regs_ptr)
        except MemoryReadError:
            # Partial pt_regs: the stack ends inside the block. What lies beyond is not a
            # register block, so it reads as the end of the stack, never as registers.
            raise FramePointerEnd(f"partial pt_regs at {regs_ptr:#x}: the stack ends inside it") from None
        return caller[RSP], caller, True
    return fp + 16, {RBP: saved_fp, RSP: fp + 16, RA: ra}, False
