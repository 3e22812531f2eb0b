"""perf.data: the header, the event attributes, the feature sections and the record stream.

The layout is the kernel's ``tools/perf/Documentation/perf.data-file-format.txt``
and ``include/uapi/linux/perf_event.h``. Both the file format (``PERFILE2``
header, attrs and features at offsets) and the pipe format (``perf record -o -``:
a 16-byte header, attributes and features as records in the stream) are read.

Every length and offset from the file is checked before use. Damage stops the
stream with :class:`PerfDataError` naming the file offset; every record before
it has been delivered by then. Records are decoded with precompiled
``struct.Struct`` objects: on the per-sample path they are several times faster
than ``construct`` (``bench/bench_perf.py --decode``).
"""

from __future__ import annotations

import mmap
import os
import struct
import sys
from operator import itemgetter

from ..errors import TargetError
from ..targets.files import open_regular

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import NamedTuple
else:
    from .._typing import NamedTuple

MAGIC = b"PERFILE2"

# perf_event_attr.sample_type bits (include/uapi/linux/perf_event.h)
SAMPLE_IP = 1 << 0
SAMPLE_TID = 1 << 1
SAMPLE_TIME = 1 << 2
SAMPLE_ADDR = 1 << 3
SAMPLE_READ = 1 << 4
SAMPLE_CALLCHAIN = 1 << 5
SAMPLE_ID = 1 << 6
SAMPLE_CPU = 1 << 7
SAMPLE_PERIOD = 1 << 8
SAMPLE_STREAM_ID = 1 << 9
SAMPLE_RAW = 1 << 10
SAMPLE_BRANCH_STACK = 1 << 11
SAMPLE_REGS_USER = 1 << 12
SAMPLE_STACK_USER = 1 << 13
SAMPLE_WEIGHT = 1 << 14
SAMPLE_DATA_SRC = 1 << 15
SAMPLE_IDENTIFIER = 1 << 16
SAMPLE_TRANSACTION = 1 << 17
SAMPLE_REGS_INTR = 1 << 18
SAMPLE_PHYS_ADDR = 1 << 19
SAMPLE_AUX = 1 << 20
SAMPLE_CGROUP = 1 << 21
SAMPLE_DATA_PAGE_SIZE = 1 << 22
SAMPLE_CODE_PAGE_SIZE = 1 << 23
SAMPLE_WEIGHT_STRUCT = 1 << 24
_KNOWN_SAMPLE_BITS = (1 << 25) - 1

# read_format bits
FORMAT_TOTAL_TIME_ENABLED = 1 << 0
FORMAT_TOTAL_TIME_RUNNING = 1 << 1
FORMAT_ID = 1 << 2
FORMAT_GROUP = 1 << 3
FORMAT_LOST = 1 << 4

BRANCH_HW_INDEX = 1 << 17  # branch_sample_type: the branch stack starts with hw_idx

# Record types
RECORD_MMAP = 1
RECORD_LOST = 2
RECORD_COMM = 3
RECORD_EXIT = 4
RECORD_FORK = 7
RECORD_SAMPLE = 9
RECORD_MMAP2 = 10
RECORD_HEADER_ATTR = 64
RECORD_HEADER_BUILD_ID = 67
RECORD_FINISHED_ROUND = 68
RECORD_AUXTRACE = 71
RECORD_HEADER_FEATURE = 80
RECORD_COMPRESSED = 81

MISC_COMM_EXEC = 1 << 13
MISC_MMAP_BUILD_ID = 1 << 14
MISC_BUILD_ID_SIZE = 1 << 15
PROT_EXEC = 4

# Feature bits (tools/perf/util/header.h)
FEAT_BUILD_ID = 2
FEAT_HOSTNAME = 3
FEAT_OSRELEASE = 4
FEAT_VERSION = 5
FEAT_ARCH = 6
FEAT_CMDLINE = 11
_STRING_FEATURES = {FEAT_HOSTNAME: "hostname", FEAT_OSRELEASE: "osrelease", FEAT_VERSION: "version",
                    FEAT_ARCH: "arch"}

# perf's x86 user-register order (arch/x86/include/uapi/asm/perf_regs.h) -> DWARF numbers.
# AX BX CX DX SI DI BP SP IP FLAGS CS SS DS ES FS GS R8..R15
PERF_REG_TO_DWARF: dict[int, int] = {0: 0, 1: 3, 2: 2, 3: 1, 4: 4, 5: 5, 6: 6, 7: 7, 8: 16,
                                     **{16 + i: 8 + i for i in range(8)}}

#: Limits on what a (possibly corrupt) file may ask of us.
MAX_ATTRS = 4096
MAX_IDS = 1 << 20
MAX_FEATURE_STRINGS = 1 << 16
MAX_ROUND_RECORDS = 1 << 22

_U64 = struct.Struct("<Q")
_U32 = struct.Struct("<I")
_HDR = struct.Struct("<IHH")
_FILE_HEADER = struct.Struct("<8sQQQQQQQQ4Q")
_ATTR_HEAD = struct.Struct("<IIQQQQQIIQQQQIiQ")  # up to sample_regs_intr (PERF_ATTR_SIZE_VER3+)
_PID_TID = struct.Struct("<II")
_MMAP = struct.Struct("<IIQQQ")
_MMAP2_PROT = struct.Struct("<II")
_FORK = struct.Struct("<IIIIQ")
_AUXTRACE_SIZE = struct.Struct("<Q")


class PerfDataError(TargetError):
    """A perf.data file is damaged or not one: the message names the file and the offset."""

    def __init__(self, name: str, offset: int | None, message: str) -> None:
        self.name = name
        self.offset = offset
        where = f"{name}: offset {offset:#x}: " if offset is not None else f"{name}: "
        super().__init__(where + message)


#: The Sample fields a record's head may hold, and their values when it does not.
_HEAD_FIELDS = ("ip", "pid", "tid", "time", "cpu", "period")
_HEAD_DEFAULTS = (None, -1, -1, None, None, None)
#: A sample's fields before the read group, in record order: (sample_type bit, struct code, Sample fields).
_SAMPLE_HEAD = (
    (SAMPLE_IDENTIFIER, "8x", ()), (SAMPLE_IP, "Q", ("ip",)), (SAMPLE_TID, "II", ("pid", "tid")),
    (SAMPLE_TIME, "Q", ("time",)), (SAMPLE_ADDR, "8x", ()), (SAMPLE_ID, "8x", ()), (SAMPLE_STREAM_ID, "8x", ()),
    (SAMPLE_CPU, "I4x", ("cpu",)), (SAMPLE_PERIOD, "Q", ("period",)),
)


class EventAttr:
    """The parts of a ``perf_event_attr`` needed to decode and unwind its samples."""

    __slots__ = ("type", "config", "sample_type", "read_format", "flags", "branch_sample_type",
                 "sample_regs_user", "sample_stack_user", "sample_regs_intr", "ids", "name",
                 "sample_id_all", "regs_user_dwarf", "time_offset", "trailer_size", "sample_head",
                 "sample_pick", "regs_user_struct", "regs_user_keys", "regs_user_dict")

    def __init__(self, type: int, config: int, sample_type: int, read_format: int, flags: int,
                 branch_sample_type: int, sample_regs_user: int, sample_stack_user: int,
                 sample_regs_intr: int, ids: list[int]) -> None:
        self.type = type
        self.config = config
        self.sample_type = sample_type
        self.read_format = read_format
        self.flags = flags
        self.branch_sample_type = branch_sample_type
        self.sample_regs_user = sample_regs_user
        self.sample_stack_user = sample_stack_user
        self.sample_regs_intr = sample_regs_intr
        self.ids = ids
        self.name = _event_name(type, config, flags)
        self.sample_id_all = bool(flags & (1 << 18))
        #: DWARF register number of each u64 in a sample's user-register block (None: not a GPR/rip).
        self.regs_user_dwarf = [PERF_REG_TO_DWARF.get(bit) for bit in range(64) if sample_regs_user >> bit & 1]
        # A sample's fixed fields up to the period, read with one unpack: their struct and names.
        fmt, fields = "<", list[str]()
        for bit, code, names in _SAMPLE_HEAD:
            if sample_type & bit:
                fmt += code
                fields += names
        self.sample_head = struct.Struct(fmt)
        # (ip, pid, tid, time, cpu, period) from the head's values followed by _HEAD_DEFAULTS: one
        # C call per sample instead of a setattr per field.
        self.sample_pick = itemgetter(*(fields.index(name) if name in fields else len(fields) + i
                                        for i, name in enumerate(_HEAD_FIELDS)))
        # The user-register block likewise: the GPRs and rip by DWARF number, the rest skipped.
        self.regs_user_struct = struct.Struct("<" + "".join("8x" if r is None else "Q" for r in self.regs_user_dwarf))
        self.regs_user_keys = tuple(r for r in self.regs_user_dwarf if r is not None)
        # The block's values as a dict by DWARF number: a dict display made for this layout (as
        # namedtuple makes its __new__), about twice as fast as dict(zip(keys, values)) per sample.
        # The keys are small ints from PERF_REG_TO_DWARF, in the block's order.
        self.regs_user_dict = eval("lambda v: {" + ", ".join(f"{int(r)}: v[{i}]" for i, r in
                                                            enumerate(self.regs_user_keys)) + "}")
        # Offset of the time field in a sample record (after the 8-byte header), or None.
        t = sample_type
        self.time_offset = (8 + 8 * bool(t & SAMPLE_IDENTIFIER) + 8 * bool(t & SAMPLE_IP)
                            + 8 * bool(t & SAMPLE_TID)) if t & SAMPLE_TIME else None
        # Size of the sample_id trailer of non-sample records (sample_id_all).
        self.trailer_size = 8 * sum(bool(t & b) for b in (SAMPLE_TID, SAMPLE_TIME, SAMPLE_ID, SAMPLE_STREAM_ID,
                                                          SAMPLE_CPU, SAMPLE_IDENTIFIER))

    def __repr__(self) -> str:
        return f"EventAttr({self.name!r}, sample_type={self.sample_type:#x})"

    def trailer_time(self, data: bytes | mmap.mmap, end: int) -> int | None:
        """The time in the sample_id trailer of a non-sample record ending at ``end``."""
        t = self.sample_type
        if not self.sample_id_all or not t & SAMPLE_TIME:
            return None
        pos = end - self.trailer_size + 8 * bool(t & SAMPLE_TID)
        return int(_U64.unpack_from(data, pos)[0])


_SW_NAMES = {0: "cpu-clock", 1: "task-clock", 2: "page-faults", 3: "context-switches", 4: "cpu-migrations"}
_HW_NAMES = {0: "cycles", 1: "instructions", 2: "cache-references", 3: "cache-misses", 4: "branches",
             5: "branch-misses"}


def _event_name(type: int, config: int, flags: int) -> str:
    base = (_HW_NAMES if type == 0 else _SW_NAMES if type == 1 else {}).get(config)
    if base is None:
        base = f"event{type}:{config:#x}"
    mods = ""
    if flags & (1 << 5) and flags & (1 << 6) and not flags & (1 << 4):  # exclude_kernel, exclude_hv
        mods = ":u"
    elif flags & (1 << 4) and not flags & (1 << 5):
        mods = ":k"
    return base + mods


class Sample:
    """One PERF_RECORD_SAMPLE: who, when, and the user registers and stack copy to unwind from.

    ``regs`` maps DWARF register numbers to values (absent: not sampled, or a
    kernel-thread sample without user registers). ``stack`` is the valid part of
    the user stack copy (``dyn_size`` bytes), which starts at ``regs[7]`` (rsp).
    Until ``stack`` is asked for, the copy is not made: ``stack_buffer[stack_offset:
    stack_offset + stack_size]`` (the file's own bytes while it is open) is where it is.
    Ask for ``stack`` before closing the :class:`PerfData` (after, like a closed file,
    it raises ValueError).
    """

    __slots__ = ("offset", "attr", "ip", "pid", "tid", "time", "cpu", "period", "callchain", "regs",
                 "stack_buffer", "stack_offset", "stack_size", "_stack")

    def __init__(self, offset: int, attr: EventAttr) -> None:
        self.offset = offset
        self.attr = attr
        self.ip: int | None = None
        self.pid = self.tid = -1
        self.time: int | None = None
        self.cpu: int | None = None
        self.period: int | None = None
        self.callchain: list[int] = []
        self.regs: dict[int, int] = {}
        self.stack_buffer: bytes | mmap.mmap = b""
        self.stack_offset = self.stack_size = 0
        self._stack: bytes | None = b""

    @property
    def stack(self) -> bytes:
        """The stack copy's valid bytes (copied out of the file on first use)."""
        if self._stack is None:
            self._stack = bytes(self.stack_buffer[self.stack_offset : self.stack_offset + self.stack_size])
        return self._stack

    @stack.setter
    def stack(self, value: bytes) -> None:
        self._stack = self.stack_buffer = value
        self.stack_offset, self.stack_size = 0, len(value)

    def __repr__(self) -> str:
        return f"Sample(pid={self.pid}, tid={self.tid}, time={self.time}, ip={self.ip or 0:#x})"


_new_sample = object.__new__
#: Callchain structs by length (a profile's chains have a few lengths).
_CHAINS: dict[int, struct.Struct] = {}


class Mmap(NamedTuple):
    """PERF_RECORD_MMAP/MMAP2: ``path`` mapped at [start, start+length) from file offset ``pgoff``."""

    pid: int
    tid: int
    start: int
    length: int
    pgoff: int
    path: str
    executable: bool
    build_id: bytes | None


class Comm(NamedTuple):
    pid: int
    tid: int
    comm: str
    exec: bool


class Fork(NamedTuple):
    """PERF_RECORD_FORK (``exit=False``) or PERF_RECORD_EXIT."""

    pid: int
    ppid: int
    tid: int
    ptid: int
    time: int
    exit: bool


Record = Sample | Mmap | Comm | Fork


class BuildId(NamedTuple):
    pid: int
    build_id: bytes
    path: str


class PerfData:
    """A perf.data file (or pipe stream): attributes, features, and its records in time order.

    >>> with PerfData.open("perf.data") as pd:
    ...     for record in pd.records():
    ...         ...

    ``records()`` yields :class:`Sample`, :class:`Mmap`, :class:`Comm` and
    :class:`Fork`, sorted by time within each ``FINISHED_ROUND`` as ``perf
    script`` does; other record types are skipped. It raises
    :class:`PerfDataError` at the first damaged record, after yielding
    everything before it.
    """

    def __init__(self, data: bytes | mmap.mmap, name: str = "perf.data") -> None:
        self.data = data
        self.name = name
        self.attrs: list[EventAttr] = []
        self.build_ids: list[BuildId] = []
        self.cmdline: list[str] = []
        self.info: dict[str, str] = {}
        #: Non-fatal problems (unsupported record types met, unreadable features), each said once.
        self.problems: list[str] = []
        self._by_id: dict[int, EventAttr] = {}
        self._file: object = None
        self._declared_end = 0
        if len(data) < 16:
            raise PerfDataError(name, 0, f"file is {len(data)} bytes, too short for a perf.data header")
        if data[:8] != MAGIC:
            if data[:8] == MAGIC[::-1] or data[:8] == b"PERFFILE":
                raise PerfDataError(name, 0, "big-endian or legacy (PERFFILE) perf.data is not supported")
            raise PerfDataError(name, 0, "not a perf.data file (no PERFILE2 magic)")
        size = _U64.unpack_from(data, 8)[0]
        self.pipe = size == 16
        if self.pipe:
            self._data_start, self._data_end = 16, len(data)
        else:
            self._read_file_header()

    @classmethod
    def open(cls, path: str) -> "PerfData":
        """Open a file (mapped, not read) or ``-`` for a pipe-mode stream on stdin."""
        if path == "-":
            return cls(sys.stdin.buffer.read(), "<stdin>")
        # A regular file only, opened O_NONBLOCK: a FIFO or device given as input must not block (TargetError).
        f = os.fdopen(open_regular(path, "perf.data file"), "rb")
        try:
            size = os.fstat(f.fileno()).st_size
            if size == 0:
                raise PerfDataError(path, 0, "file is empty")
            data: bytes | mmap.mmap = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        except OSError:
            data = f.read()  # a file that cannot be mapped
        except BaseException:
            f.close()
            raise
        self = cls.__new__(cls)
        self._file = f
        try:
            cls.__init__(self, data, path)
        except BaseException:
            self.close()
            raise
        self._file = f
        return self

    def close(self) -> None:
        if isinstance(self.data, mmap.mmap):
            try:
                self.data.close()
            except BufferError:  # a memoryview of it is still alive; the GC will close it
                pass
        f = self._file
        if f is not None:
            f.close()  # type: ignore[attr-defined]
            self._file = None

    def __enter__(self) -> "PerfData":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- header -----------------------------------------------------------------------------------

    def _err(self, offset: int | None, message: str) -> PerfDataError:
        return PerfDataError(self.name, offset, message)

    def _section(self, offset: int, size: int, what: str, at: int) -> tuple[int, int]:
        if offset + size > len(self.data):
            raise self._err(at, f"{what} section [{offset:#x}, {offset + size:#x}) runs past the end of the "
                                f"file ({len(self.data):#x} bytes): truncated")
        return offset, offset + size

    def _read_file_header(self) -> None:
        data = self.data
        if len(data) < _FILE_HEADER.size:
            raise self._err(0, f"header needs {_FILE_HEADER.size} bytes, file has {len(data)}: truncated")
        (_, size, attr_size, attrs_off, attrs_size, data_off, data_size, _et_off, _et_size,
         *features) = _FILE_HEADER.unpack_from(data, 0)
        if size < _FILE_HEADER.size:
            raise self._err(8, f"header size {size} is smaller than {_FILE_HEADER.size}")
        a0, a1 = self._section(attrs_off, attrs_size, "attrs", 24)
        if attr_size < 16 + 64 + 16 or attrs_size % attr_size:
            raise self._err(16, f"attr size {attr_size} does not divide the attrs section ({attrs_size} bytes)")
        n = attrs_size // attr_size
        if n == 0 or n > MAX_ATTRS:
            raise self._err(24, f"{n} event attributes (expected 1..{MAX_ATTRS})")
        for i in range(n):
            at = a0 + i * attr_size
            attr = self._parse_attr(at, attr_size - 16)
            ids_off, ids_size = struct.unpack_from("<QQ", data, at + attr_size - 16)
            i0, i1 = self._section(ids_off, ids_size, "event ids", at + attr_size - 16)
            if ids_size % 8 or ids_size // 8 > MAX_IDS:
                raise self._err(at + attr_size - 16, f"event id list of {ids_size} bytes")
            attr.ids = list(struct.unpack_from(f"<{ids_size // 8}Q", data, i0))
            self._add_attr(attr)
        if data_off > len(data):
            raise self._err(40, f"data section at {data_off:#x} is past the end of the file ({len(data):#x} bytes)")
        self._data_start = data_off
        self._data_end = min(data_off + data_size, len(data))
        if data_off + data_size > len(data):
            # A truncated file: serve the records that are whole, then say where the data stopped.
            self._declared_end = data_off + data_size
            self.problems.append(f"{self.name}: the file is truncated: its data section should end at "
                                 f"{data_off + data_size:#x}, the file ends at {len(data):#x}; no feature sections")
            return
        self._read_features(data_off + data_size, features)

    def _parse_attr(self, at: int, size: int) -> EventAttr:
        data = self.data
        if size < 64 or at + size > len(data):
            raise self._err(at, f"event attribute of {size} bytes is truncated")
        buf = bytes(data[at : at + min(size, _ATTR_HEAD.size)]).ljust(_ATTR_HEAD.size, b"\0")
        (type_, _asize, config, _period, sample_type, read_format, flags, _wake, _bpt, _c1, _c2, bst,
         regs_user, stack_user, _clock, regs_intr) = _ATTR_HEAD.unpack(buf)
        if sample_type & ~_KNOWN_SAMPLE_BITS:
            raise self._err(at + 24, f"sample_type {sample_type:#x} has bits this reader does not know")
        return EventAttr(type_, config, sample_type, read_format, flags, bst, regs_user, stack_user,
                         regs_intr, [])

    def _add_attr(self, attr: EventAttr) -> None:
        self.attrs.append(attr)
        for i in attr.ids:
            self._by_id[i] = attr

    def _read_features(self, at: int, bits: list[int]) -> None:
        """Feature sections: an index of (offset, size) per set bit, in bit order, after the data."""
        feats = [b for b in range(256) if bits[b // 64] >> (b % 64) & 1]
        for k, feat in enumerate(feats):
            idx = at + 16 * k
            if idx + 16 > len(self.data):
                self.problems.append(f"{self.name}: offset {idx:#x}: feature index truncated")
                return
            off, size = struct.unpack_from("<QQ", self.data, idx)
            try:
                start, end = self._section(off, size, f"feature {feat}", idx)
                self._read_feature(feat, start, end)
            except PerfDataError as e:
                self.problems.append(str(e))

    def _read_feature(self, feat: int, start: int, end: int) -> None:
        data = self.data
        if feat == FEAT_BUILD_ID:
            pos = start
            while pos + 8 <= end:
                _type, misc, size = _HDR.unpack_from(data, pos)
                if size < 36 or pos + size > end:
                    raise self._err(pos, f"build-id record of {size} bytes")
                (pid,) = struct.unpack_from("<i", data, pos + 8)
                n = data[pos + 32] if misc & MISC_BUILD_ID_SIZE else 20
                bid = bytes(data[pos + 12 : pos + 12 + min(n, 20)])
                path = _cstr(data, pos + 36, pos + size)
                self.build_ids.append(BuildId(pid, bid, path))
                pos += size
        elif feat in _STRING_FEATURES:
            self.info[_STRING_FEATURES[feat]] = self._strings(start, end, 1)[0]
        elif feat == FEAT_CMDLINE:
            if end - start < 4:
                raise self._err(start, "cmdline feature truncated")
            (n,) = _U32.unpack_from(data, start)
            self.cmdline = self._strings(start + 4, end, n)

    def _strings(self, pos: int, end: int, n: int) -> list[str]:
        if n > MAX_FEATURE_STRINGS:
            raise self._err(pos, f"{n} strings in a feature")
        out = []
        for _ in range(n):
            if pos + 4 > end:
                raise self._err(pos, "feature string truncated")
            (length,) = _U32.unpack_from(self.data, pos)
            if pos + 4 + length > end:
                raise self._err(pos, f"feature string of {length} bytes runs past its section")
            out.append(_cstr(self.data, pos + 4, pos + 4 + length))
            pos += 4 + length
        return out

    # -- records ----------------------------------------------------------------------------------

    def attr_for(self, sample_id: int | None) -> EventAttr | None:
        if sample_id is not None and sample_id in self._by_id:
            return self._by_id[sample_id]
        return self.attrs[0] if len(self.attrs) == 1 else None

    def _record_attr(self, type_: int, pos: int, size: int) -> EventAttr | None:
        """The attribute a record belongs to (by its id, when there are several)."""
        attrs = self.attrs
        if not attrs:
            return None
        if len(attrs) == 1:
            return attrs[0]
        a = attrs[0]
        t = a.sample_type
        if t & SAMPLE_IDENTIFIER:
            at = pos + 8 if type_ == RECORD_SAMPLE else pos + size - 8
        elif t & SAMPLE_ID and type_ == RECORD_SAMPLE:
            at = pos + 8 + 8 * sum(bool(t & b) for b in (SAMPLE_IP, SAMPLE_TID, SAMPLE_TIME, SAMPLE_ADDR))
        else:
            return a
        return self._by_id.get(_U64.unpack_from(self.data, at)[0], a) if at + 8 <= pos + size else a

    def records(self) -> Iterator[Record]:
        """Every record of interest, time-ordered within rounds; PerfDataError at damage."""
        data = self.data
        attrs = self.attrs
        u64 = _U64.unpack_from
        pos, end = self._data_start, self._data_end
        pending: list[tuple[int, int, int, int, int, int]] = []  # (time, seq, pos, type, misc, size)
        last_time = 0
        seq = 0
        error: PerfDataError | None = None
        while pos < end:
            if pos + 8 > end:
                error = self._err(pos, f"record header truncated ({end - pos} bytes left)")
                break
            type_, misc, size = _HDR.unpack_from(data, pos)
            if size < 8 or pos + size > end:
                error = self._err(pos, f"record of type {type_} claims {size} bytes, {end - pos} are left "
                                       "(truncated or corrupt)"
                                  if size >= 8 else f"record of type {type_} claims {size} bytes (< 8): corrupt")
                break
            nxt = pos + size
            if type_ == RECORD_SAMPLE:  # nearly every record: tested first, its attribute found inline
                attr = attrs[0] if len(attrs) == 1 else self._record_attr(type_, pos, size)
                t = last_time
                if attr is not None:
                    off = attr.time_offset
                    if off is not None and off + 8 <= size:
                        t = last_time = u64(data, pos + off)[0]
                pending.append((t, seq, pos, type_, misc, size))
                seq += 1
                if len(pending) > MAX_ROUND_RECORDS:  # no FINISHED_ROUND for too long: deliver in file order
                    yield from self._flush(pending)
                    pending.clear()
            elif type_ == RECORD_FINISHED_ROUND:
                yield from self._flush(pending)
                pending.clear()
            elif type_ == RECORD_HEADER_ATTR:
                try:
                    self._pipe_attr(pos, size)
                except PerfDataError as e:
                    error = e
                    break
            elif type_ == RECORD_AUXTRACE:
                if size < 16:
                    error = self._err(pos, "AUXTRACE record too short")
                    break
                nxt += _AUXTRACE_SIZE.unpack_from(data, pos + 8)[0]  # its payload follows the record
                if nxt > end:
                    error = self._err(pos, "AUXTRACE payload runs past the end of the data")
                    break
            elif type_ == RECORD_HEADER_BUILD_ID or type_ == RECORD_HEADER_FEATURE:
                # Pipe mode: build-ids and features as records (a damaged one is a problem, not the end).
                try:
                    if type_ == RECORD_HEADER_BUILD_ID:
                        self._read_feature(FEAT_BUILD_ID, pos, pos + size)
                    elif size >= 16:
                        self._read_feature(_U64.unpack_from(data, pos + 8)[0], pos + 16, pos + size)
                except PerfDataError as e:
                    self._problem(str(e))
            elif type_ == RECORD_COMPRESSED:
                self._problem("compressed records (perf record -z) are not supported; they were skipped")
            elif type_ in (RECORD_MMAP, RECORD_MMAP2, RECORD_COMM, RECORD_FORK, RECORD_EXIT):
                attr = self._record_attr(type_, pos, size)
                trailer: int | None = None
                if attr is not None and attr.trailer_size <= size - 8:
                    trailer = attr.trailer_time(data, pos + size)
                t = last_time if trailer is None else trailer
                last_time = t
                pending.append((t, seq, pos, type_, misc, size))
                seq += 1
                if len(pending) > MAX_ROUND_RECORDS:  # no FINISHED_ROUND for too long: deliver in file order
                    yield from self._flush(pending)
                    pending.clear()
            pos = nxt
        yield from self._flush(pending)
        if error is None and self._declared_end > end:
            error = self._err(end, f"the data section is truncated here (the header says it ends at "
                                   f"{self._declared_end:#x})")
        if error is not None:
            raise error

    def _problem(self, text: str) -> None:
        text = f"{self.name}: {text}"
        if text not in self.problems:
            self.problems.append(text)

    def _flush(self, pending: list[tuple[int, int, int, int, int, int]]) -> Iterator[Record]:
        pending.sort()
        attrs = self.attrs
        for _t, _s, pos, type_, misc, size in pending:
            if type_ == RECORD_SAMPLE and len(attrs) == 1:  # decode()'s first case, without its dispatch
                try:
                    rec: Record | None = self._sample(pos, pos + size, attrs[0])
                except struct.error:
                    raise self._err(pos, f"record of type {type_} ({size} bytes) is too short for its fields") \
                        from None
            else:
                rec = self.decode(pos, type_, misc, size)
            if rec is not None:
                yield rec

    def _pipe_attr(self, pos: int, size: int) -> None:
        """PERF_RECORD_HEADER_ATTR (pipe mode): an attribute followed by its ids."""
        if size < 8 + 8:
            raise self._err(pos, "HEADER_ATTR record too short")
        (asize,) = _U32.unpack_from(self.data, pos + 8 + 4)
        if asize < 64 or 8 + asize > size:
            raise self._err(pos, f"HEADER_ATTR with an attribute of {asize} bytes in a {size}-byte record")
        attr = self._parse_attr(pos + 8, asize)
        nids = (size - 8 - asize) // 8
        attr.ids = list(struct.unpack_from(f"<{nids}Q", self.data, pos + 8 + asize))
        if len(self.attrs) >= MAX_ATTRS:
            raise self._err(pos, f"more than {MAX_ATTRS} event attributes")
        self._add_attr(attr)

    def decode(self, pos: int, type_: int, misc: int, size: int) -> Record | None:
        """Decode one record at ``pos`` whose header said ``type_``, ``misc``, ``size``."""
        data = self.data
        end = pos + size
        try:
            if type_ == RECORD_SAMPLE:
                attr = self._record_attr(type_, pos, size)
                if attr is None:
                    raise self._err(pos, "sample before any event attribute")
                return self._sample(pos, end, attr)
            if type_ == RECORD_MMAP or type_ == RECORD_MMAP2:
                pid, tid, start, length, pgoff = _MMAP.unpack_from(data, pos + 8)
                bid = None
                if type_ == RECORD_MMAP2:
                    if misc & MISC_MMAP_BUILD_ID:
                        n = min(data[pos + 40], 20)
                        bid = bytes(data[pos + 44 : pos + 44 + n])
                    prot, _flags = _MMAP2_PROT.unpack_from(data, pos + 64)
                    name_at = pos + 72
                    executable = bool(prot & PROT_EXEC)
                else:
                    name_at = pos + 40
                    executable = not misc & MISC_COMM_EXEC  # PERF_RECORD_MISC_MMAP_DATA shares bit 13
                if name_at > end:
                    raise self._err(pos, f"MMAP record of {size} bytes is too short")
                return Mmap(pid, tid, start, length, pgoff, _cstr(data, name_at, end), executable, bid)
            if type_ == RECORD_COMM:
                if size < 16:
                    raise self._err(pos, "COMM record too short")
                pid, tid = _PID_TID.unpack_from(data, pos + 8)
                return Comm(pid, tid, _cstr(data, pos + 16, end), bool(misc & MISC_COMM_EXEC))
            if type_ == RECORD_FORK or type_ == RECORD_EXIT:
                pid, ppid, tid, ptid, time = _FORK.unpack_from(data, pos + 8)
                return Fork(pid, ppid, tid, ptid, time, type_ == RECORD_EXIT)
        except struct.error:
            raise self._err(pos, f"record of type {type_} ({size} bytes) is too short for its fields") from None
        return None

    def _sample(self, pos: int, end: int, attr: EventAttr) -> Sample:
        data = self.data
        t = attr.sample_type
        u64 = _U64.unpack_from
        head = attr.sample_head
        if 8 + head.size > end - pos:
            raise self._err(pos, f"sample fields need {8 + head.size} bytes, the record has {end - pos}")
        s = _new_sample(Sample)  # every slot is set below: Sample.__init__'s defaults would be overwritten
        s.offset, s.attr = pos, attr
        s.ip, s.pid, s.tid, s.time, s.cpu, s.period = attr.sample_pick(head.unpack_from(data, pos + 8)
                                                                       + _HEAD_DEFAULTS)
        p = pos + 8 + head.size
        if t & SAMPLE_READ:
            p = self._skip_read(attr, p, end)
        if t & SAMPLE_CALLCHAIN:
            (n,) = u64(data, p)
            if p + 8 + 8 * n > end:
                raise self._err(pos, f"sample callchain of {n} entries runs past its record")
            chain = _CHAINS.get(n)
            if chain is None:
                chain = struct.Struct(f"<{n}Q")
                if len(_CHAINS) < 256:
                    _CHAINS[n] = chain
            s.callchain = list(chain.unpack_from(data, p + 8))
            p += 8 + 8 * n
        else:
            s.callchain = []
        if t & (SAMPLE_RAW | SAMPLE_BRANCH_STACK):
            if t & SAMPLE_RAW:
                p += 4 + _U32.unpack_from(data, p)[0]
                p = (p + 7) & ~7 if (p - pos) % 8 else p  # raw data is padded so the record stays u64-aligned
            if t & SAMPLE_BRANCH_STACK:
                (n,) = u64(data, p)
                p += 8 + 8 * bool(attr.branch_sample_type & BRANCH_HW_INDEX) + 24 * n
        regs: dict[int, int] = {}
        if t & SAMPLE_REGS_USER:
            (abi,) = u64(data, p)
            p += 8
            if abi:
                block = attr.regs_user_struct
                if p + block.size > end:
                    raise self._err(pos, "sample user registers run past its record")
                regs = attr.regs_user_dict(block.unpack_from(data, p))
                p += block.size
        s.regs = regs
        size = 0
        if t & SAMPLE_STACK_USER:
            (size,) = u64(data, p)
            if size:
                if p + 16 + size > end:
                    raise self._err(pos, f"sample stack copy of {size} bytes runs past its record")
                (dyn,) = u64(data, p + 8 + size)
                # Not copied here: the walk reads a few words of it in place (Sample.stack copies).
                s.stack_buffer, s.stack_offset, s.stack_size, s._stack = data, p + 8, min(dyn, size), None
                p += 16 + size
            else:
                p += 8
        if not size:
            s.stack_buffer, s.stack_offset, s.stack_size, s._stack = b"", 0, 0, b""
        if p > end:
            raise self._err(pos, f"sample fields need {p - pos} bytes, the record has {end - pos}")
        return s

    def _skip_read(self, attr: EventAttr, p: int, end: int) -> int:
        rf = attr.read_format
        per_value = 8 * (1 + bool(rf & FORMAT_ID) + bool(rf & FORMAT_LOST))
        times = 8 * (bool(rf & FORMAT_TOTAL_TIME_ENABLED) + bool(rf & FORMAT_TOTAL_TIME_RUNNING))
        if rf & FORMAT_GROUP:
            (n,) = _U64.unpack_from(self.data, p)
            if n > MAX_IDS:
                raise self._err(p, f"read group of {n} values")
            return p + 8 + times + n * per_value
        return p + times + per_value


def _cstr(data: bytes | mmap.mmap, start: int, end: int) -> str:
    raw = bytes(data[start:end])
    nul = raw.find(b"\0")
    return (raw if nul < 0 else raw[:nul]).decode("utf-8", "replace")
