"""Samples with nothing to unwind: their frames as perf recorded them.

``perf record -g`` (the kernel's frame-pointer callchain) or a plain ``perf
record`` (only the sampled ip) leaves no user registers and stack copy in a
sample. ``perf script`` then prints the kernel's callchain, or the ip; so do
we, named with the same modules and symbols as an unwound sample's frames, and
with stop reason ``perf-callchain``. Such frames are the kernel's frame-pointer
walk: without frame pointers in the profiled code it is one frame deep.

A callchain is the kernel's part and the user part, each after its context
marker (``PERF_CONTEXT_KERNEL``, ``PERF_CONTEXT_USER``); :func:`context_pcs`
reads either (the kernel's is dwarfunwind/perf/kernel.py's).
"""

from __future__ import annotations

from ..unwind.frame import StackTrace, StopReason

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..targets.base import ThreadInfo
    from ..unwind.engine import Unwinder

#: Callchain entries from here up are context markers, not addresses (PERF_CONTEXT_MAX = -4095).
PERF_CONTEXT_MAX = (1 << 64) - 4095
#: The markers after which a callchain's entries are kernel, and user-space, pcs.
PERF_CONTEXT_KERNEL = (1 << 64) - 128
PERF_CONTEXT_USER = (1 << 64) - 512


def context_pcs(callchain: list[int], context: int, max_frames: int) -> list[int]:
    """The pcs of ``callchain`` in ``context`` (a PERF_CONTEXT_* marker), innermost first, at most ``max_frames``."""
    pcs: list[int] = []
    inside = False
    for entry in callchain:  # bounded by the record's length (the reader checked it)
        if entry >= PERF_CONTEXT_MAX:
            inside = entry == context
        elif inside:
            if len(pcs) >= max_frames:
                break
            pcs.append(entry)
    return pcs


def user_pcs(callchain: list[int], ip: int | None, max_frames: int) -> list[int]:
    """The user-space pcs of a sample, innermost first: its callchain's user part, else its ip."""
    pcs = context_pcs(callchain, PERF_CONTEXT_USER, max_frames)
    if not pcs and ip is not None and ip < 1 << 63 and max_frames > 0:  # a user-space ip (kernel: top half)
        pcs.append(ip)
    return pcs


def callchain_trace(unwinder: Unwinder, thread: ThreadInfo, pcs: list[int]) -> StackTrace:
    """A trace of ``pcs`` (frame 0 exact, the others return addresses), named as a walk's frames are."""
    trace = StackTrace(thread, method="fp")
    trace.frames = [unwinder.frame_at(i, pc, "initial" if i == 0 else "fp") for i, pc in enumerate(pcs)]
    trace.stop_reason = StopReason.PERF_CALLCHAIN
    return trace
