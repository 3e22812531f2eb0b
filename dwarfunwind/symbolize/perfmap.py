"""Names of JIT-compiled code from ``/tmp/perf-PID.map``, the file JITs write for perf.

V8 (``--perf-basic-prof``), the JVM (perf-map-agent), .NET, LuaJIT and CPython 3.12+
(``-X perf``) write one line per function they emit: ``START SIZE name``, hex without
``0x``. Such code lives in anonymous memory, with no module, CFI or symbols; the walk
goes through it with frame pointers, and this names it, as ``perf script`` does.

The file sits in a world-writable directory, so, like perf, we read it only if it is a
regular file (not a symlink) owned by the process's user or by root; its size (64 MiB)
and lines (2^19) are bounded, and names are shown escaped.
"""

from __future__ import annotations

import bisect
import io
import itertools
import os
import stat

from ..targets.files import printable

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..unwind.frame import Frame

#: Bytes of a map file read at most (a JIT that ran for days writes a long one).
MAX_MAP_BYTES = 64 << 20
#: Lines of a map used at most (about 200 bytes of memory each: ~110 MB at most).
MAX_ENTRIES = 1 << 19
#: Characters of a name kept at most.
MAX_NAME = 1024


class PerfMap:
    """A parsed perf map: ``lookup(pc)`` -> ``(name, offset)`` or None. Later lines win over earlier ones
    at the same start (a JIT that reuses memory appends the new function)."""

    def __init__(self, entries: list[tuple[int, int, str]]) -> None:
        latest: dict[int, tuple[int, str]] = {}
        for start, size, name in entries:
            latest[start] = (size, name)
        self._starts = sorted(latest)
        self._entries = [latest[s] for s in self._starts]

    @classmethod
    def parse(cls, data: bytes) -> "PerfMap":
        entries = []
        for raw in itertools.islice(io.BytesIO(data), MAX_ENTRIES):  # (lazily: not a list of every line)
            fields = raw.decode("utf-8", "surrogateescape").split(None, 2)
            if len(fields) != 3:
                continue  # perf skips what it cannot parse, and so do we
            try:
                start, size = int(fields[0], 16), int(fields[1], 16)
            except ValueError:
                continue
            if size > 0 and start + size <= 1 << 64:
                entries.append((start, size, printable(fields[2].strip(), MAX_NAME)))
        return cls(entries)

    def __len__(self) -> int:
        return len(self._starts)

    def name(self, frame: Frame) -> None:
        """Name ``frame`` (one outside every module) if its pc is in a function of the map."""
        address = frame.lookup_pc
        hit = self.lookup(address)
        if hit is not None:
            frame.function = frame.linkage_name = hit[0]
            frame.offset = frame.pc - (address - hit[1])

    def lookup(self, pc: int) -> tuple[str, int] | None:
        i = bisect.bisect_right(self._starts, pc) - 1
        if i < 0:
            return None
        size, name = self._entries[i]
        offset = pc - self._starts[i]
        return (name, offset) if offset < size else None


def read_perf_map(pid: int, owner: int, directory: str = "/tmp") -> tuple[PerfMap | None, str | None]:
    """``(map, None)`` for ``DIRECTORY/perf-PID.map``; ``(None, None)`` when there is none; ``(None, why)``
    when there is one we will not read (a symlink, not a regular file, owned by another user)."""
    path = os.path.join(directory, f"perf-{pid}.map")
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        return None, None
    except OSError as e:
        return None, f"{path}: {e.strerror or e}; JIT frames are not named"
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            return None, f"{path}: not a regular file; JIT frames are not named"
        if st.st_uid not in (owner, 0):
            # As perf: anyone can write /tmp, and the names would be shown as the program's.
            return None, (f"{path}: owned by uid {st.st_uid}, not by the process's user ({owner}) or root; "
                          "ignored, JIT frames are not named")
        data = os.read(fd, MAX_MAP_BYTES) if st.st_size else b""
    except OSError as e:
        return None, f"{path}: {e.strerror or e}; JIT frames are not named"
    finally:
        os.close(fd)
    return PerfMap.parse(data), None
