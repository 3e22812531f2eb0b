"""A Target wrapper that remembers which memory was read.

Unwinding through a :class:`RecordingTarget` and saving its :meth:`ranges`
with :func:`~dwarfunwind.targets.snapshot.save_snapshot` gives a snapshot that
replays the same unwind: exactly the bytes used are kept.
"""

from __future__ import annotations

from collections.abc import Sequence
from types import TracebackType
from typing import Any

from .base import Mapping, Target, ThreadInfo


def merge_ranges(ranges: list[tuple[int, int]] | set[tuple[int, int]]) -> list[tuple[int, int]]:
    """Sorted, non-overlapping ``[start, end)`` ranges; touching ranges are joined, empty ones dropped."""
    out: list[tuple[int, int]] = []
    for start, end in sorted(r for r in ranges if r[1] > r[0]):
        if out and start <= out[-1][1]:
            if end > out[-1][1]:
                out[-1] = (out[-1][0], end)
        else:
            out.append((start, end))
    return out


class RecordingTarget:
    """Forwards everything to ``inner`` and records every successful ``read_memory``."""

    def __init__(self, inner: Target) -> None:
        self.inner = inner
        self.name = inner.name
        # A set: an unwinder reads the same slots again and again.
        self._reads: set[tuple[int, int]] = set()

    def threads(self) -> Sequence[ThreadInfo]:
        return self.inner.threads()

    def mappings(self) -> Sequence[Mapping]:
        return self.inner.mappings()

    def read_memory(self, address: int, size: int) -> bytes:
        data = self.inner.read_memory(address, size)
        if size > 0:
            self._reads.add((address, address + size))
        return data

    def ranges(self) -> list[tuple[int, int]]:
        """The memory read so far as merged ``[start, end)`` ranges (exact, not page-rounded)."""
        return merge_ranges(self._reads)

    def clear(self) -> None:
        """Forget what was recorded."""
        self._reads.clear()

    def close(self) -> None:
        self.inner.close()

    def __enter__(self) -> RecordingTarget:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def __getattr__(self, attr: str) -> Any:
        # Target-specific extras (auxv(), vdso_range(), resolve_file()...) pass through.
        if attr == "inner":
            raise AttributeError(attr)
        return getattr(self.inner, attr)


__all__ = ["RecordingTarget", "merge_ranges"]
