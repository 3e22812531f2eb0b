"""Samples with nothing to unwind: their frames as perf recorded them.

``perf record -g`` (the kernel's frame-pointer callchain) or a plain ``perf
record`` (only the sampled ip) leaves no user registers and stack copy in a
sample. ``perf script`` then prints the kernel's callchain, or the ip; so do
we, named with the same modules and symbols as an unwound sample's frames, and
with stop reason ``perf-callchain``. Such frames are the kernel's frame-pointer
walk: without frame pointers in the profiled code it is one frame deep.
"""

from __future__ import annotations

from ..targets.base import ThreadInfo
from ..unwind.engine import Unwinder
from ..unwind.frame import Frame, StackTrace, StopReason

#: Callchain entries from here up are context markers, not addresses (PERF_CONTEXT_MAX = -4095).
PERF_CONTEXT_MAX = (1 << 64) - 4095
#: The marker after which the callchain's entries are user-space pcs.
PERF_CONTEXT_USER = (1 << 64) - 512

RIP = 16


def user_pcs(callchain: list[int], ip: int | None, max_frames: int) -> list[int]:
    """The user-space pcs of a sample, innermost first: its callchain's user part, else its ip."""
    pcs: list[int] = []
    user = False
    for entry in callchain:  # bounded by the record's length (the reader checked it)
        if entry >= PERF_CONTEXT_MAX:
            user = entry == PERF_CONTEXT_USER
        elif user:
            pcs.append(entry)
            if len(pcs) >= max_frames:
                break
    if not pcs and ip is not None and ip < 1 << 63 and max_frames > 0:  # a user-space ip (kernel: top half)
        pcs.append(ip)
    return pcs


def callchain_trace(unwinder: Unwinder, thread: ThreadInfo, pcs: list[int]) -> StackTrace:
    """A trace of ``pcs`` (frame 0 exact, the others return addresses), symbolized as a walk's frames are."""
    trace = StackTrace(thread, method="fp")
    modules = unwinder.modules
    for index, pc in enumerate(pcs):
        frame = Frame(index, pc, None, {RIP: pc}, "initial" if index == 0 else "fp")
        address = frame.lookup_pc
        module = modules.find(address)
        frame.module = module
        sym = module.symbolize(address) if module is not None else None
        if sym is not None:
            frame.function = frame.linkage_name = sym[0]
            frame.offset = pc - (address - sym[1])  # sym[1]: address - function start
        trace.frames.append(frame)
    trace.stop_reason = StopReason.PERF_CALLCHAIN
    return trace
