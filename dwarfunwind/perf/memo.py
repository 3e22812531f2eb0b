"""The samples of a process share their callers: a memo of walk suffixes.

Samples of one process mostly differ in their innermost frames. The callers sit at
the same call sites with the same saved registers, and their part of the walk repeats
from sample to sample. The walk from a frame on is a function of that frame's registers
and of the memory its steps read: the module files (fixed while the process's module
map is) and the sample's stack copy. So each walk leaves an entry for every frame it
stepped from: the frames from there out, how the walk stopped, and where in the stack
copy those steps read. A later walk that reaches a frame with the same registers (and
method, and interruptedness), whose stack copy holds the same bytes at those addresses
and agrees about every read outside it, takes the rest of the walk from the entry
instead of stepping again: exactly the frames the steps would have produced.

Frames taken from an entry are shared between samples' traces (renumbered copies where
the depth differs): treat them as read-only.
"""

from __future__ import annotations

import struct
from operator import itemgetter

from ..arch.x86_64 import RSP
from ..unwind.frame import Frame, StackTrace, StopReason
from .target import ProcessTarget

_U64 = struct.Struct("<Q")

TYPE_CHECKING = False
if TYPE_CHECKING:
    import mmap
    from collections.abc import Callable

    from ..targets.base import Target
    from ..unwind.dwarf import ReadMemory
    from ..unwind.memory import ReadWord

#: Bounds on what one process's memo holds; past any of them it starts again. An entry pins its
#: walk's stack copy (up to 64 KiB in perf.data) and frames, shared by the walk's entries.
MAX_ENTRIES = 1 << 15
MAX_HELD_BYTES = 64 << 20  # stack copies pinned
MAX_HELD_FRAMES = 1 << 18  # frames pinned

#: A persistent list, ``(item, rest)``: each entry of a walk shares the reads of the entries above it,
#: so a walk of n frames leaves its n entries in O(n), not O(n²).
_Cons = tuple[tuple[int, int], "_Cons | None"]


class _Entry:
    """A walk from one of its frames on: its frames, what its steps read, how it ended."""

    __slots__ = ("frames", "positions", "k", "runs", "outside", "stack", "base", "start", "end", "reason", "detail",
                 "check")

    def __init__(self, frames: tuple[Frame, ...], positions: dict[tuple[int, int | None], int], k: int,
                 runs: _Cons | None, outside: _Cons | None, stack: bytes | mmap.mmap, base: int, start: int,
                 end: int, reason: StopReason, detail: str) -> None:
        #: The walk's frames; the entry starts at ``frames[k]``; ``positions``: where each (pc, sp) key
        #: sits among them (shared by the walk's entries).
        self.frames, self.positions, self.k = frames, positions, k
        #: The (start, end) runs its steps read in the stack copy (ascending), and (address, size) of
        #: reads outside it.
        self.runs, self.outside = runs, outside
        #: The buffer holding the walk's stack copy, where address 0 would be in it, the copy's start and end.
        self.stack, self.base, self.start, self.end = stack, base, start, end
        self.reason, self.detail = reason, detail
        self.check: tuple[int, int, Callable[[bytes], object], object] | None = None

    def make_check(self) -> tuple[int, int, Callable[[bytes], object], object]:
        """``(low, high, pick, bytes)``: ``pick`` applied to the bytes at [low, high) of a sample's copy gives
        ``bytes`` where that copy holds what this walk read (its runs: not None)."""
        spans = []
        node: _Cons | None = self.runs
        while node is not None:
            spans.append(node[0])
            node = node[1]
        low, high = spans[0][0], spans[-1][1]
        pick = itemgetter(*[slice(lo - low, hi - low) for lo, hi in spans])
        return low, high, pick, pick(self.stack[low + self.base : high + self.base])


class SuffixMemo:
    """Walk suffixes of one process's samples, valid while its module map is unchanged."""

    __slots__ = ("_entries", "_target", "_steps", "_inside", "_outside", "_hit", "_held_bytes", "_held_frames",
                 "_start", "_end", "_buffer", "_base")

    def __init__(self) -> None:
        self._entries: dict[tuple[int, int | None], _Entry] = {}
        self._target: ProcessTarget | None = None
        #: Per step of the current walk: its reads inside the stack copy and outside it.
        self._steps: list[tuple[list[tuple[int, int]], list[tuple[int, int]]]] = []
        self._inside: list[tuple[int, int]] = []
        self._outside: list[tuple[int, int]] = []
        #: (frame index in the current walk, entry) where the walk took an entry's frames.
        self._hit: tuple[int, _Entry] | None = None
        #: Stack bytes and frames pinned by the entries (counted per walk that left any), and the bytes
        #: their checks copied.
        self._held_bytes = self._held_frames = 0
        #: The current sample's stack copy: [start, end), in ``buffer`` at ``address + base``.
        self._start = self._end = self._base = 0
        self._buffer: bytes | mmap.mmap = b""

    @property
    def taken_at(self) -> int | None:
        """The index of the first frame the last walk took from an entry (None: it stepped throughout)."""
        return self._hit[0] if self._hit is not None else None

    def __len__(self) -> int:
        return len(self._entries)

    def clear(self) -> None:
        """Forget every entry (the process's modules changed)."""
        self._entries.clear()
        self._held_bytes = self._held_frames = 0

    # -- one walk ----------------------------------------------------------------------------------

    def begin(self, target: Target) -> tuple[ReadMemory, ReadWord]:
        """``(read_memory, read_word)`` for one walk of ``target``'s current sample, noting every read."""
        if not isinstance(target, ProcessTarget):
            raise TypeError("a SuffixMemo serves perf sample targets (their memory is a stack copy)")
        self._target = target
        self._steps = []
        self._inside, self._outside = [], []
        self._hit = None
        self._start, self._end = target.stack_start, target.stack_end
        self._buffer, self._base = target.stack, target.stack_offset - target.stack_start
        # Methods reading this state, not closures over it: a walk per sample makes new ones, and
        # closures cost more to make (and to call).
        return self._read_memory, self._read_word

    def _read_memory(self, address: int, size: int) -> bytes:
        if self._start <= address and address + size <= self._end and size > 0:
            self._inside.append((address, address + size))
        else:
            self._outside.append((address, size))
        t = self._target
        assert t is not None
        return t.read_memory(address, size)

    def _read_word(self, address: int) -> int:
        if self._start <= address and address + 8 <= self._end:  # nearly every read: one call, not three
            self._inside.append((address, address + 8))
            return int(_U64.unpack_from(self._buffer, address + self._base)[0])
        return int.from_bytes(self._read_memory(address, 8), "little")

    def stepped(self) -> None:
        """One step of the walk is done: what it read is its own."""
        self._steps.append((self._inside, self._outside))
        self._inside, self._outside = [], []

    def take(self, trace: StackTrace, pc: int, regs: dict[int, int], method: str, interrupted: bool,
             seen: set[tuple[int, int | None]], max_frames: int) -> bool:
        """If an entry continues the walk from the frame just stepped to (``pc``, ``regs``, ``method``,
        ``interrupted``: not built yet), put the entry's frames in and return True."""
        entry = self._entries.get((pc, regs.get(RSP)))
        if entry is None:
            return False
        old_frames, k = entry.frames, entry.k
        old = old_frames[k]
        if old.registers != regs or old.method != method or old.interrupted != interrupted:
            return False
        frames = trace.frames
        j = len(frames)
        # The walk with this many frames would go on stepping only below the limit.
        if j + len(old_frames) - k >= max_frames:
            return False
        t = self._target
        assert t is not None
        check = entry.check
        if check is None and entry.runs is not None:
            # Made when an entry is first taken, and kept (within the bytes the memo may hold): most
            # entries are never taken, a few are taken by most samples.
            check = entry.make_check()
            size = check[1] - check[0]
            if self._held_bytes + size <= MAX_HELD_BYTES:
                entry.check = check
                self._held_bytes += size
        if not _same_memory(t, entry, check):
            return False
        # A frame of this walk among the entry's later frames: this prefix would have stopped at a loop.
        # ``seen`` holds this walk's few frames; ``positions`` where each key sits in the entry's walk.
        positions = entry.positions
        for key in seen:
            if positions.get(key, -1) > k:
                return False
        if j == k:
            frames.extend(old_frames[k:])
        else:
            frames.extend([f.renumbered(f.index + j - k) for f in old_frames[k:]])
        trace.stop_reason, trace.stop_detail = entry.reason, entry.detail
        self._hit = (j, entry)
        return True

    def end(self, trace: StackTrace) -> None:
        """Leave an entry for every frame this walk stepped from."""
        hit = self._hit
        steps = self._steps
        if hit is not None:
            stop = hit[0]  # the frame the entry took over from: steps 0 .. stop-1 were taken here
            if len(steps) != stop or stop < 2:
                return  # (taken at frame 1: no frame of this walk stepped but frame 0, which is not kept)
        else:
            stop = len(steps)
            if stop != len(trace.frames):
                return  # a walk that did not step from its last frame
        reason = trace.stop_reason
        # Walks whose end depends on more than the frame and the memory read are not remembered: a
        # loop (the frames before it), the frame limit (the depth) and a budget (the work done before).
        if reason is StopReason.LOOP or reason is StopReason.FRAME_LIMIT or reason is StopReason.BUDGET:
            return
        t = self._target
        assert t is not None
        size = t.stack_end - t.stack_start
        if (len(self._entries) + len(trace.frames) > MAX_ENTRIES or self._held_bytes + size > MAX_HELD_BYTES
                or self._held_frames + len(trace.frames) > MAX_HELD_FRAMES):
            self.clear()
        frames = tuple(trace.frames)
        runs: _Cons | None = None
        outside: _Cons | None = None
        if hit is not None:  # the steps of the frames taken from it read what its entry says
            runs, outside = hit[1].runs, hit[1].outside
        keys = [(f.pc, f.registers.get(RSP)) for f in frames]
        # Where each frame's key sits in this walk (later frames win): take() checks its walk's own
        # few keys against it, not the entry's many keys against its walk.
        positions = {key: i for i, key in enumerate(keys)}
        entries = self._entries
        self._held_bytes += size
        base = t.stack_offset - t.stack_start
        self._held_frames += len(frames)
        detail = trace.stop_detail
        for i in range(stop - 1, 0, -1):
            s_in, s_out = steps[i]
            if s_in:
                runs = _with_spans(runs, s_in)
            for read in s_out:
                outside = (read, outside)
            entries[keys[i]] = _Entry(frames, positions, i, runs, outside, t.stack, base, t.stack_start,
                                      t.stack_end, reason, detail)


def _with_spans(runs: _Cons | None, spans: list[tuple[int, int]]) -> _Cons | None:
    """``runs`` (ascending, disjoint (start, end) spans) with ``spans`` merged in where they touch:
    fewer, longer byte compares.

    A step reads below the steps of its callers (the stack grows down), so a span nearly always
    goes in front, or joins the first run: O(1). A span above that is merged by rebuilding.
    """
    for lo, hi in sorted(spans, reverse=True):
        if runs is not None and lo > runs[0][1]:
            flat = []
            node: _Cons | None = runs
            while node is not None:
                flat.append(node[0])
                node = node[1]
            merged: list[tuple[int, int]] = []
            for a, b in sorted([*flat, (lo, hi)]):
                if merged and a <= merged[-1][1]:
                    merged[-1] = (merged[-1][0], max(b, merged[-1][1]))
                else:
                    merged.append((a, b))
            runs = None
            for span in reversed(merged):
                runs = (span, runs)
            continue
        # In front of the first run, or touching it (then also any runs it now reaches).
        while runs is not None and hi >= runs[0][0]:
            lo, hi = min(lo, runs[0][0]), max(hi, runs[0][1])
            runs = runs[1]
        runs = ((lo, hi), runs)
    return runs


def _same_memory(t: ProcessTarget, entry: _Entry, check: tuple[int, int, Callable[[bytes], object], object] | None
                 ) -> bool:
    """True if every read ``entry``'s steps made gives the same result in ``t``'s current sample
    (``check``: its reads in the stack copy, from :meth:`_Entry.make_check`; None if it made none)."""
    new_start, new_end = t.stack_start, t.stack_end
    if check is not None:
        low, high, pick, old = check
        if low < new_start or high > new_end:
            return False
        at = t.stack_offset + low - new_start
        if pick(t.stack[at : at + high - low]) != old:
            return False
    outside = entry.outside
    start, end = entry.start, entry.end
    while outside is not None:
        (address, size), outside = outside
        # Not in the copy then; it must not be now, and a read past the copy's end (StackCopyEnd,
        # whose message names the end) must be past the same end.
        if new_start <= address and address + size <= new_end and size > 0:
            return False
        past_end = start <= address and address + size > end and end > start
        now_past_end = new_start <= address and address + size > new_end and new_end > new_start
        if past_end != now_past_end or past_end and new_end != end:
            return False
    return True
