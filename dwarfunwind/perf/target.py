"""A perf-recorded process as a :class:`~dwarfunwind.targets.base.Target`.

Its registers are the current sample's user registers; its memory is the
sample's stack copy plus the file-backed pages of the modules it maps, read
from the files themselves (and the vDSO from this machine's own when the
build-ids agree, or from perf's ``~/.debug/[vdso]`` cache). A read past the end
of the stack copy raises :class:`~dwarfunwind.errors.StackCopyEnd`: the walk
stops there with stop reason ``stack-copy-end``, as perf's own unwinding does.
"""

from __future__ import annotations

import bisect
import mmap
import os

from ..arch.x86_64 import RSP
from ..elf.reader import ELFReader
from ..errors import DwarfUnwindError, MemoryReadError, StackCopyEnd, TargetError
from ..targets.base import Mapping, ThreadInfo, check_read
from ..targets.files import open_regular

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only
    from collections.abc import Sequence

#: At most this many files are kept mapped for reading file-backed pages.
MAX_OPEN_FILES = 256
#: At most this many mappings per process (a corrupt file could claim millions).
MAX_MAPPINGS = 1 << 16


class FileCache:
    """Files mapped read-only, shared by every process of a recording."""

    def __init__(self) -> None:
        self._maps: dict[str, mmap.mmap | None] = {}

    def read(self, path: str, offset: int, size: int) -> bytes | None:
        if path in self._maps:
            m = self._maps[path]
        else:
            m = None
            if len(self._maps) < MAX_OPEN_FILES:
                try:
                    # Regular files only, opened O_NONBLOCK: a FIFO at a recorded path must not block.
                    fd = open_regular(path)
                    try:
                        m = mmap.mmap(fd, 0, access=mmap.ACCESS_READ)
                    finally:
                        os.close(fd)
                except (OSError, ValueError, TargetError):
                    m = None
                self._maps[path] = m
        if m is None or offset < 0 or offset + size > len(m):
            return None
        return m[offset : offset + size]

    def close(self) -> None:
        for m in self._maps.values():
            if m is not None:
                m.close()
        self._maps.clear()


_OWN_VDSO: tuple[int, bytes, bytes | None] | None | bool = False


def own_vdso() -> tuple[int, bytes, bytes | None] | None:
    """(start, image, build-id) of this process's vDSO, or None."""
    global _OWN_VDSO
    if _OWN_VDSO is False:
        _OWN_VDSO = None
        try:
            with open("/proc/self/maps") as f:
                for line in f:
                    if line.rstrip().endswith("[vdso]"):
                        lo, hi = (int(x, 16) for x in line.split()[0].split("-"))
                        image = _own_memory(lo, hi - lo)
                        try:
                            bid = ELFReader(image, "[vdso]").build_id()
                        except DwarfUnwindError:
                            bid = None
                        _OWN_VDSO = (lo, image, bid)
                        break
        except (OSError, ValueError):
            pass
    return _OWN_VDSO  # type: ignore[return-value]


def _own_memory(address: int, size: int) -> bytes:
    """Bytes of this process's memory: read as a file (importing ctypes costs ~4 ms of start-up)."""
    try:
        with open("/proc/self/mem", "rb", buffering=0) as mem:
            mem.seek(address)
            data = mem.read(size)
        if len(data) == size:
            return data
    except OSError:  # /proc/self/mem refused (some sandboxes)
        pass
    import ctypes

    return ctypes.string_at(address, size)


def vdso_image(build_id: bytes | None, size: int, same_kernel: bool) -> bytes | None:
    """The recorded process's vDSO image: this machine's if the build-id agrees, else perf's cache.

    Without a recorded build-id (pipe mode writes them last), this machine's vDSO is used only
    when the recording names the running kernel's release and the sizes agree.
    """
    own = own_vdso()
    if own is not None and build_id and own[2] == build_id:
        return own[1]
    if own is not None and not build_id and same_kernel and len(own[1]) == size:
        return own[1]
    if build_id:
        path = os.path.expanduser(f"~/.debug/[vdso]/{build_id.hex()}/vdso")
        try:
            with open(path, "rb") as f:
                return f.read(1 << 20)
        except OSError:
            pass
    return None


def vdso_unknown(build_id: bytes | None) -> str:
    """Why :func:`vdso_image` found no image for a recorded vDSO, as a problem line."""
    if build_id:
        why = (f"build-id {build_id.hex()} is neither this machine's vDSO nor in ~/.debug/[vdso] "
               "(perf archive / perf buildid-cache keep it)")
    else:
        why = ("the recording names no build-id for it (a truncated file, or a pipe cut short before "
               "perf wrote them) and does not show it was made on the kernel this machine runs")
    return f"[vdso]: the recorded vDSO's image is not known: {why}; frames in it have no CFI or symbols"


class ProcessTarget:
    """One recorded process: its mappings as of now, and the registers and stack of its current sample."""

    def __init__(self, pid: int, name: str, files: FileCache) -> None:
        self.pid = pid
        self.name = name
        self.files = files
        self.maps: list[Mapping] = []
        self._starts: list[int] = []
        self.vdso: bytes | None = None
        self.thread = ThreadInfo(pid, {})
        #: The current sample's stack copy: ``stack[stack_offset:]`` holds [stack_start, stack_end).
        self.stack: bytes | mmap.mmap = b""
        self.stack_offset = 0
        self.stack_start = 0
        self.stack_end = 0

    # -- state over time ---------------------------------------------------------------------------

    def add_mapping(self, new: Mapping) -> None:
        """A new mapping replaces whatever it overlaps (as mmap does, and perf's maps__fixup_overlappings)."""
        out: list[Mapping] = []
        for m in self.maps:
            if m.end <= new.start or m.start >= new.end:
                out.append(m)
                continue
            if m.start < new.start:
                out.append(m._replace(end=new.start))
            if m.end > new.end:
                skip = new.end - m.start
                out.append(m._replace(start=new.end, offset=m.offset + skip if m.path else m.offset))
        out.append(new)
        out.sort(key=lambda m: m.start)
        if len(out) > MAX_MAPPINGS:
            out = out[-MAX_MAPPINGS:]
        self.maps = out
        self._starts = [m.start for m in out]

    def set_sample(self, tid: int, regs: dict[int, int], stack: bytes | mmap.mmap, name: str | None,
                   offset: int = 0, size: int | None = None) -> None:
        """The current sample: its registers, and its stack copy ``stack[offset:offset + size]`` (all of it
        by default), read in place."""
        self.thread = ThreadInfo(tid, regs, False, None, name)  # (positional: a keyword costs more, per sample)
        self.stack = stack
        self.stack_offset = offset
        self.stack_start = regs.get(RSP, 0)
        self.stack_end = self.stack_start + (len(stack) - offset if size is None else size)

    # -- Target protocol ---------------------------------------------------------------------------

    def threads(self) -> Sequence[ThreadInfo]:
        return [self.thread]

    def mappings(self) -> Sequence[Mapping]:
        return self.maps

    def read_memory(self, address: int, size: int) -> bytes:
        lo = self.stack_start
        # The hot path (nearly every read of a walk): inside the stack copy.
        if lo <= address and address + size <= self.stack_end and size > 0:
            at = self.stack_offset + address - lo
            return self.stack[at : at + size]
        if not check_read(address, size):
            return b""
        i = bisect.bisect_right(self._starts, address) - 1
        if i >= 0:
            m = self.maps[i]
            if address + size <= m.end:
                data = None
                if m.path == "[vdso]":
                    if self.vdso is not None and address - m.start + size <= len(self.vdso):
                        data = self.vdso[address - m.start : address - m.start + size]
                elif m.path and m.path.startswith("/"):
                    data = self.files.read(m.path, m.offset + address - m.start, size)
                if data is not None and len(data) == size:
                    return data
        if address + size > self.stack_end and address >= lo and self.stack_end > lo:
            raise StackCopyEnd(address, size, self.stack_end)
        raise MemoryReadError(address, size)

    def close(self) -> None:
        pass
