"""Snapshots: the threads, mappings and chosen memory of a target, in one file.

A snapshot is what is needed to redo an unwind elsewhere: registers of every
thread, the address-space layout (with build-ids, to find the right binaries
later) and the memory an unwind reads (stacks, the vDSO, or the exact ranges a
:class:`~dwarfunwind.targets.recording.RecordingTarget` saw). The format is
described in ``docs/snapshot.md``:

    offset 0   8 bytes   magic b"DWUNSNAP"
    offset 8   u32 LE    format version (1)
    offset 12  u32 LE    header length H
    offset 16  u32 LE    CRC-32 of the header
    offset 20  H bytes   header: UTF-8 JSON
    offset 20+H          data: the saved memory ranges' bytes, back to back

Every size and offset from the file is checked before use, so a truncated or
corrupt snapshot raises :class:`~dwarfunwind.errors.TargetError` naming the file.
"""

from __future__ import annotations

import json
import mmap
import os
import stat
import struct
import tempfile
import zlib
from bisect import bisect_right
from collections.abc import Iterable, Sequence
from types import TracebackType
from typing import Any

from ..arch.x86_64 import RSP
from ..elf.reader import ELFReader
from ..errors import DwarfUnwindError, MemoryReadError, TargetError
from .base import Mapping, Target, ThreadInfo, check_read
from .files import file_kind, open_regular, printable
from .recording import merge_ranges

MAGIC = b"DWUNSNAP"
VERSION = 1
_PREAMBLE = struct.Struct("<8sIII")

#: Header size we accept (a JSON header of millions of mappings would be smaller).
MAX_HEADER = 64 << 20
MAX_THREADS = 1 << 16
MAX_MAPPINGS = 1 << 20
MAX_RANGES = 1 << 22
#: Red zone below rsp that leaf functions may use (psABI 3.2.2).
RED_ZONE = 128
#: Default stack bytes saved per thread, from rsp - RED_ZONE up.
DEFAULT_STACK_BYTES = 8 << 20
#: At most this many bytes of one wanted range are saved (a stack or a vDSO larger than this is not real).
MAX_RANGE_BYTES = 64 << 20
#: At most this many bytes of memory in one snapshot.
MAX_SNAPSHOT_BYTES = 1 << 30
#: The vDSO is a few pages: a "vDSO" mapping larger than this is cut to it.
MAX_VDSO_BYTES = 1 << 20
#: Bytes read at a time when saving, and the smallest piece kept when part of a range is unreadable.
_CHUNK = 1 << 20
_PAGE = 4096
_GRANULE = 8


# -- writing -----------------------------------------------------------------------------------


def default_ranges(target: Target, *, extra_stack_bytes: int = DEFAULT_STACK_BYTES) -> list[tuple[int, int]]:
    """The ranges saved when none are given: each thread's stack and the vDSO.

    Stack: from rsp - 128 (the red zone) to the end of the mapping holding rsp,
    at most ``extra_stack_bytes`` (plus the red zone); the vDSO whole, because
    its CFI exists nowhere on disk.
    """
    maps = sorted(target.mappings(), key=lambda m: m.start)
    starts = [m.start for m in maps]
    out: list[tuple[int, int]] = []
    if extra_stack_bytes > 0:
        for t in target.threads():
            rsp = t.registers.get(RSP)
            if rsp is None:
                continue
            low = max(0, rsp - RED_ZONE)
            i = bisect_right(starts, rsp) - 1
            end = maps[i].end if i >= 0 and maps[i].start <= rsp < maps[i].end else rsp + (64 << 10)
            out.append((low, min(end, rsp + extra_stack_bytes, 1 << 64)))
    for m in maps:
        if m.path == "[vdso]":
            out.append((m.start, min(m.end, m.start + MAX_VDSO_BYTES)))
    return out


def _readable_pieces(target: Target, start: int, end: int) -> Iterable[tuple[int, bytes]]:
    """The readable parts of ``[start, end)`` as (address, bytes); unreadable parts are skipped."""
    pos = start
    while pos < end:
        stop = min(end, (pos // _CHUNK + 1) * _CHUNK)
        try:
            yield pos, target.read_memory(pos, stop - pos)
        except MemoryReadError:
            yield from _readable_pieces_slow(target, pos, stop)
        pos = stop


def _readable_pieces_slow(target: Target, start: int, end: int) -> Iterable[tuple[int, bytes]]:
    # Page by page. A page whose first bytes cannot be read is skipped whole (memory
    # comes and goes by pages); otherwise its readable prefix (a core cut off, a short
    # file) is found by bisection. At most ~10 reads a page, so a huge unreadable
    # range costs little.
    pos = start
    while pos < end:
        stop = min(end, (pos // _PAGE + 1) * _PAGE)
        try:
            yield pos, target.read_memory(pos, stop - pos)
        except MemoryReadError:
            n = _readable_prefix(target, pos, stop)
            if n:
                yield pos, target.read_memory(pos, n)
        pos = stop


def _readable_prefix(target: Target, start: int, end: int) -> int:
    """How many bytes from ``start`` (a multiple of _GRANULE, less than ``end - start``) can be read."""
    lo, hi = 0, (end - start) // _GRANULE  # granules: lo readable, hi not
    try:
        target.read_memory(start, _GRANULE)
    except MemoryReadError:
        return 0
    lo = 1
    while hi - lo > 1:
        mid = (lo + hi) // 2
        try:
            target.read_memory(start, mid * _GRANULE)
            lo = mid
        except MemoryReadError:
            hi = mid
    return lo * _GRANULE


def _build_ids(target: Target, maps: Sequence[Mapping]) -> dict[str, str]:
    """Hex build-id of each readable ELF file among the mappings' paths."""
    resolve = getattr(target, "resolve_file", None)
    out: dict[str, str] = {}
    seen: set[str] = set()
    for m in maps:
        path = m.path
        if m.build_id is not None and path:
            out[path] = m.build_id.hex()
        if not path or not path.startswith("/") or path in seen:
            continue
        seen.add(path)
        try:
            real = resolve(path) if callable(resolve) else path
            if real is None or not stat.S_ISREG(os.stat(real).st_mode):
                continue  # never open FIFOs or devices
            reader = ELFReader.open(real)
            try:
                bid = reader.build_id()
            finally:
                if isinstance(reader.data, mmap.mmap):
                    reader.data.close()
        except (DwarfUnwindError, OSError, ValueError):
            continue
        if bid and path not in out:
            out[path] = bid.hex()
    return out


def _check_destination(path: str) -> str:
    """The file to write: a new name, or an existing regular file (through a symlink: the file it names).

    The snapshot is written to a temporary file and renamed over ``path``, which
    would replace whatever ``path`` is: a device (``/dev/null``), a FIFO, a
    directory. Those are refused, as are missing directories.
    """
    shown = printable(path)
    if not path:
        raise TargetError("--save needs a file name")
    try:
        st = os.stat(path)
    except FileNotFoundError:
        directory = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(directory):
            raise TargetError(f"{shown}: cannot write the snapshot: directory {printable(directory)} "
                              "does not exist") from None
        if os.path.lexists(path):  # a dangling symlink: write where it points, never replace the link
            return _check_destination(os.path.join(os.path.dirname(path), os.readlink(path))) \
                if os.path.islink(path) else path
        return path
    except (OSError, ValueError) as e:
        raise TargetError(f"{shown}: cannot write the snapshot: {getattr(e, 'strerror', None) or e}") from None
    if not stat.S_ISREG(st.st_mode):
        raise TargetError(f"{shown}: is {file_kind(st.st_mode)}; a snapshot is written only to a regular file "
                          "or a new name")
    return os.path.realpath(path)


def _perms(m: Mapping) -> str:
    return ("r" if m.readable else "-") + ("w" if m.writable else "-") + ("x" if m.executable else "-")


def save_snapshot(target: Target, path: str | os.PathLike[str],
                  ranges: Sequence[tuple[int, int]] | None = None, *,
                  extra_stack_bytes: int = DEFAULT_STACK_BYTES) -> list[tuple[int, int]]:
    """Write ``target``'s threads, mappings and memory to ``path``.

    ``ranges`` are ``[start, end)`` address ranges to save (for instance
    :meth:`RecordingTarget.ranges`); they are merged with :func:`default_ranges`
    (each thread's stack, at most ``extra_stack_bytes`` from rsp; 0 saves no
    stacks beyond ``ranges``; and the vDSO). Unreadable parts are left out.
    The file is written to a temporary name and renamed, so a failure never
    leaves a half-written snapshot. Returns the ranges actually saved.
    """
    path = os.fspath(path)
    threads = list(target.threads())
    maps = sorted(target.mappings(), key=lambda m: m.start)
    wanted = list(default_ranges(target, extra_stack_bytes=extra_stack_bytes))
    for start, end in ranges or ():
        if not (0 <= start <= end <= 1 << 64):
            raise ValueError(f"bad range {start:#x}-{end:#x}")
        wanted.append((start, end))

    path = _check_destination(path)
    pieces: list[tuple[int, bytearray]] = []
    total = 0
    for start, end in merge_ranges(wanted):
        end = min(end, start + MAX_RANGE_BYTES, start + max(0, MAX_SNAPSHOT_BYTES - total))
        for addr, data in _readable_pieces(target, start, end):
            total += len(data)
            if pieces and pieces[-1][0] + len(pieces[-1][1]) == addr:
                pieces[-1][1].extend(data)  # keep touching pieces one range
            else:
                pieces.append((addr, bytearray(data)))

    build_ids = _build_ids(target, maps)
    range_entries = []
    offset = 0
    crc = 0
    for addr, chunk in pieces:
        range_entries.append({"address": hex(addr), "size": len(chunk), "offset": offset})
        offset += len(chunk)
        crc = zlib.crc32(chunk, crc)
    header = {
        "name": target.name,
        "threads": [
            {"tid": t.tid, "crashed": t.crashed, "signal": t.signal, "name": t.name,
             "registers": {str(k): hex(v) for k, v in sorted(t.registers.items())}}
            for t in threads
        ],
        "mappings": [
            {"start": hex(m.start), "end": hex(m.end), "offset": m.offset, "path": m.path,
             "perms": _perms(m), "build_id": build_ids.get(m.path) if m.path else None}
            for m in maps
        ],
        "ranges": range_entries,
        "data_size": offset,
        "data_crc32": crc,
    }
    raw = json.dumps(header, separators=(",", ":"), ensure_ascii=True).encode("ascii")
    if len(raw) > MAX_HEADER:
        raise TargetError(f"{path}: snapshot header would be {len(raw)} bytes, more than {MAX_HEADER}")
    directory = os.path.dirname(os.path.abspath(path))
    try:
        fd, tmp = tempfile.mkstemp(prefix=".snapshot-", dir=directory)
    except OSError as e:
        raise TargetError(f"{printable(path)}: cannot write the snapshot there: {e.strerror or e}") from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(_PREAMBLE.pack(MAGIC, VERSION, len(raw), zlib.crc32(raw)))
            f.write(raw)
            for _, chunk in pieces:
                f.write(chunk)
        os.replace(tmp, path)
    except BaseException as e:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(e, OSError):
            raise TargetError(f"{printable(path)}: cannot write the snapshot: {e.strerror or e}") from None
        raise
    return [(a, a + len(d)) for a, d in pieces]


# -- reading -----------------------------------------------------------------------------------


class SnapshotTarget:
    """A snapshot file as a Target; use as a context manager or call close()."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        self.name = printable(self.path)
        self._data: mmap.mmap | bytes = b""
        fd = open_regular(self.path, "snapshot")
        try:
            size = os.fstat(fd).st_size
            if size < _PREAMBLE.size:
                raise TargetError(f"{self.name}: {size} bytes, too short for a snapshot")
            self._data = mmap.mmap(fd, 0, access=mmap.ACCESS_READ)
        except OSError as e:
            raise TargetError(f"{self.name}: cannot open snapshot: {e.strerror or e}") from None
        finally:
            os.close(fd)
        try:
            self._parse()
        except BaseException:
            self.close()
            raise

    def _fail(self, what: str) -> TargetError:
        return TargetError(f"{self.path}: corrupt snapshot: {what}")

    def _parse(self) -> None:
        data = self._data
        magic, version, hlen, hcrc = _PREAMBLE.unpack_from(data, 0)
        if magic != MAGIC:
            raise TargetError(f"{self.path}: not a dwarfunwind snapshot (bad magic)")
        if version != VERSION:
            raise TargetError(f"{self.path}: snapshot format version {version} is not supported "
                              f"(this version reads {VERSION})")
        if hlen > MAX_HEADER:
            raise self._fail(f"header length {hlen} is more than {MAX_HEADER}")
        data_start = _PREAMBLE.size + hlen
        if data_start > len(data):
            raise TargetError(f"{self.path}: truncated snapshot: header of {hlen} bytes runs past "
                              f"the end of the file ({len(data)} bytes)")
        raw = data[_PREAMBLE.size:data_start]
        if zlib.crc32(raw) != hcrc:
            raise self._fail("header checksum mismatch")
        try:
            header = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError) as e:
            raise self._fail(f"header is not JSON ({e})") from None
        if not isinstance(header, dict):
            raise self._fail("header is not a JSON object")

        data_size = self._int(header, "data_size", "header")
        if data_start + data_size != len(data):
            raise TargetError(f"{self.path}: truncated snapshot: data should be {data_size} bytes, "
                              f"file holds {len(data) - data_start}")
        self._data_start = data_start
        crc = self._int(header, "data_crc32", "header")
        if zlib.crc32(memoryview(data)[data_start:]) != crc:
            raise self._fail("memory data checksum mismatch")
        self.source_name = header.get("name") if isinstance(header.get("name"), str) else None

        self._threads = [self._thread(t, i) for i, t in
                         enumerate(self._list(header, "threads", MAX_THREADS))]
        self._mappings = sorted((self._mapping(m, i) for i, m in
                                 enumerate(self._list(header, "mappings", MAX_MAPPINGS))),
                                key=lambda m: m.start)
        ranges = []
        for i, r in enumerate(self._list(header, "ranges", MAX_RANGES)):
            where = f"range {i}"
            if not isinstance(r, dict):
                raise self._fail(f"{where} is not an object")
            address = self._addr(r, "address", where)
            size = self._int(r, "size", where)
            offset = self._int(r, "offset", where)
            if offset + size > data_size or address + size > 1 << 64:
                raise self._fail(f"{where} ({address:#x}, {size} bytes at data offset {offset}) "
                                 f"lies outside the {data_size} data bytes or the address space")
            if size:
                ranges.append((address, size, offset))
        ranges.sort()
        for a, b in zip(ranges, ranges[1:]):
            if b[0] < a[0] + a[1]:
                raise self._fail(f"memory ranges at {a[0]:#x} and {b[0]:#x} overlap")
        self._ranges = ranges
        self._range_starts = [r[0] for r in ranges]

    # -- header validation helpers --

    def _list(self, obj: dict[str, Any], key: str, limit: int) -> list[Any]:
        value = obj.get(key)
        if not isinstance(value, list):
            raise self._fail(f"'{key}' is missing or not a list")
        if len(value) > limit:
            raise self._fail(f"{len(value)} {key}, more than {limit}")
        return value

    def _int(self, obj: dict[str, Any], key: str, where: str) -> int:
        value = obj.get(key)
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise self._fail(f"{where}: '{key}' is missing or not a non-negative integer")
        return value

    def _addr(self, obj: dict[str, Any], key: str, where: str) -> int:
        value = obj.get(key)
        try:
            if not isinstance(value, str) or not value.startswith("0x"):
                raise ValueError
            n = int(value, 16)
        except ValueError:
            raise self._fail(f"{where}: '{key}' is missing or not a hex string") from None
        if not 0 <= n < 1 << 64:
            raise self._fail(f"{where}: '{key}' {value} is not a 64-bit value")
        return n

    def _opt_str(self, obj: dict[str, Any], key: str, where: str) -> str | None:
        value = obj.get(key)
        if value is not None and not isinstance(value, str):
            raise self._fail(f"{where}: '{key}' is not a string")
        return value

    def _thread(self, t: Any, i: int) -> ThreadInfo:
        where = f"thread {i}"
        if not isinstance(t, dict):
            raise self._fail(f"{where} is not an object")
        regs_raw = t.get("registers")
        if not isinstance(regs_raw, dict) or len(regs_raw) > 1024:
            raise self._fail(f"{where}: 'registers' is missing or not an object")
        regs = {}
        for k in regs_raw:
            if not (isinstance(k, str) and k.isascii() and k.isdigit() and len(k) < 6):
                raise self._fail(f"{where}: register number {k!r} is not a number")
            regs[int(k)] = self._addr(regs_raw, k, f"{where} register {k}")
        signal = t.get("signal")
        if signal is not None and (not isinstance(signal, int) or isinstance(signal, bool)):
            raise self._fail(f"{where}: 'signal' is not an integer")
        crashed = t.get("crashed", False)
        if not isinstance(crashed, bool):
            raise self._fail(f"{where}: 'crashed' is not true/false")
        return ThreadInfo(tid=self._int(t, "tid", where), registers=regs, crashed=crashed, signal=signal,
                          name=self._opt_str(t, "name", where))

    def _mapping(self, m: Any, i: int) -> Mapping:
        where = f"mapping {i}"
        if not isinstance(m, dict):
            raise self._fail(f"{where} is not an object")
        start, end = self._addr(m, "start", where), self._addr(m, "end", where)
        if end < start:
            raise self._fail(f"{where}: ends ({end:#x}) before it starts ({start:#x})")
        perms = self._opt_str(m, "perms", where) or "r--"
        bid = self._opt_str(m, "build_id", where)
        try:
            build_id = bytes.fromhex(bid) if bid else None
        except ValueError:
            raise self._fail(f"{where}: build_id {bid!r} is not hex") from None
        return Mapping(start, end, self._int(m, "offset", where), self._opt_str(m, "path", where),
                       readable="r" in perms, writable="w" in perms, executable="x" in perms,
                       build_id=build_id)

    # -- Target protocol --

    def threads(self) -> Sequence[ThreadInfo]:
        return list(self._threads)

    def mappings(self) -> Sequence[Mapping]:
        return list(self._mappings)

    def ranges(self) -> list[tuple[int, int]]:
        """The saved memory as ``[start, end)`` ranges."""
        return [(a, a + s) for a, s, _ in self._ranges]

    def read_memory(self, address: int, size: int) -> bytes:
        if isinstance(self._data, bytes):
            raise TargetError(f"{self.path}: snapshot is closed")
        if not check_read(address, size):
            return b""
        end = address + size
        i = bisect_right(self._range_starts, address) - 1
        parts = []
        pos = address
        # Each step moves to the next saved range or fails: bounded by the range count.
        while pos < end:
            if i < 0 or i >= len(self._ranges):
                raise MemoryReadError(address, size)
            start, rsize, offset = self._ranges[i]
            if not start <= pos < start + rsize:
                raise MemoryReadError(address, size)
            stop = min(end, start + rsize)
            off = self._data_start + offset + (pos - start)
            parts.append(self._data[off:off + (stop - pos)])
            pos = stop
            i += 1
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def close(self) -> None:
        if isinstance(self._data, mmap.mmap):
            self._data.close()
        self._data = b""

    def __enter__(self) -> SnapshotTarget:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


__all__ = ["MAGIC", "VERSION", "SnapshotTarget", "default_ranges", "save_snapshot"]
