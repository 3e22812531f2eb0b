"""``unwind --verify``: mark the frames whose CFI row ``check`` finds wrong at their pc.

A frame's row is what the walk used to find the frame above it; where that row is wrong,
every frame above is suspect and the trace is not reliable. Frames are duck-typed (``module``
with ``file_path`` and ``bias``, ``lookup_pc``, ``index``): ``check/`` does not import ``unwind/``.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from typing import Any

from ..errors import DwarfUnwindError
from . import FileChecker


class Verifier:
    """Checks the FDEs that frames land in, each file and FDE once."""

    def __init__(self) -> None:
        self._files: dict[str, FileChecker | None] = {}
        self._index: dict[str, tuple[list[int], list[Any]]] = {}
        self._results: dict[tuple[str, int], Any] = {}

    def _file(self, path: str) -> FileChecker | None:
        if path not in self._files:
            try:
                self._files[path] = FileChecker(path)
            except DwarfUnwindError:
                self._files[path] = None
        return self._files[path]

    def wrong_row(self, path: str, address: int) -> str | None:
        """Why the row in force at ``address`` (of the file at ``path``) is wrong, or None."""
        fc = self._file(path)
        if fc is None:
            return None
        index = self._index.get(path)
        if index is None:
            fdes = sorted((f for f in fc.fdes if f.pc_range), key=lambda f: f.pc_begin)
            index = self._index[path] = ([f.pc_begin for f in fdes], fdes)
        i = bisect.bisect_right(index[0], address) - 1
        if i < 0 or not index[1][i].pc_begin <= address < index[1][i].pc_end:
            return None
        fde = index[1][i]
        key = (path, fde.offset)
        if key not in self._results:
            try:
                done = fc.check_fde(fde)
            except DwarfUnwindError:
                done = None
            self._results[key] = done[0] if done is not None else None
        result = self._results[key]
        if result is None or not result.wrong:
            return None
        # The instruction holding the address (a caller's lookup pc is inside its call).
        starts = sorted(result.visited)
        j = bisect.bisect_right(starts, address) - 1
        return result.wrong.get(starts[j]) if j >= 0 else None

    def marks(self, frames: Iterable[Any]) -> list[tuple[Any, str]]:
        """(frame, reason) for each frame whose row is wrong at its lookup pc."""
        out = []
        for frame in frames:
            module = getattr(frame, "module", None)
            # The module's file by path: the program (and so the module's open file) may be closed by now.
            path = getattr(module, "file_path", None)
            if module is None or path is None:
                continue
            why = self.wrong_row(path, frame.lookup_pc - module.bias)
            if why is not None:
                out.append((frame, why))
        return out
