"""A running process, stopped with ptrace for as long as the target is open.

Attaching uses ``PTRACE_SEIZE`` + ``PTRACE_INTERRUPT`` rather than
``PTRACE_ATTACH``: SEIZE sends no SIGSTOP, so a process that was running is
left exactly as it was after ``PTRACE_DETACH`` (no stray stop to undo), and a
process that was already group-stopped stays stopped.

Only reads are done: registers with ``PTRACE_GETREGS``, memory with ``pread``
on ``/proc/PID/mem``, mappings from ``/proc/PID/maps``. Every seized thread is
detached on every path (success, error, KeyboardInterrupt mid-attach or
mid-close); a signal that arrived while a thread was stopped is handed back on
detach.

For sampling (a profiler), ``LiveTarget(pid, stopped=False)`` keeps only
``/proc/PID/mem`` open; each :meth:`LiveTarget.stop` stops every thread and
reads its registers, each :meth:`LiveTarget.resume` detaches them again, so the
process runs between samples and is never left traced.

A thread that cannot stop is not waited for: a vfork() parent (state D until
its child execs or exits) is left alone, and any thread that has not stopped
within ``STOP_TIMEOUT`` seconds is skipped; both are said in :attr:`notes`.
"""

from __future__ import annotations

import ctypes
import errno
import os
import time
from collections.abc import Callable, Sequence
from types import TracebackType

from ..arch.x86_64 import USER_REGS_SLOTS
from ..errors import MemoryReadError, TargetError
from .base import Mapping, ThreadInfo, check_read
from .core import registers_from_user_regs
from .files import is_regular

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..symbolize.perfmap import PerfMap

PTRACE_GETREGS = 12
PTRACE_DETACH = 17
PTRACE_SEIZE = 0x4206
PTRACE_INTERRUPT = 0x4207
PTRACE_EVENT_STOP = 128
WALL = 0x40000000  # __WALL: wait for threads (clone children) too

#: Rounds of re-listing /proc/PID/task while new threads keep appearing.
MAX_ATTACH_ROUNDS = 64
#: How long close() waits for a seized thread to report its stop before giving up on it.
DETACH_WAIT_SECONDS = 2.0
#: How long attaching waits for one thread to stop (a thread in an uninterruptible wait never does).
STOP_TIMEOUT = 1.0
#: Upper bound on lines read from /proc/PID/maps.
MAX_MAPS_LINES = 1 << 20


class _UserRegs(ctypes.Structure):
    _fields_ = [(name, ctypes.c_ulonglong) for name in USER_REGS_SLOTS]


_libc: ctypes.CDLL | None = None


def _ptrace_fn() -> Callable[..., int]:
    global _libc
    if _libc is None:
        lib = ctypes.CDLL(None, use_errno=True)
        lib.ptrace.argtypes = [ctypes.c_long, ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p]
        lib.ptrace.restype = ctypes.c_long
        _libc = lib
    return _libc.ptrace


def _ptrace(request: int, tid: int, addr: int | None = None, data: int | ctypes.c_void_p | None = None) -> int:
    """Call ptrace; raise OSError(errno) on failure."""
    ctypes.set_errno(0)
    ret = _ptrace_fn()(request, tid, addr, data)
    if ret == -1:
        err = ctypes.get_errno()
        if err:
            raise OSError(err, os.strerror(err))
    return int(ret)


class LiveTarget:
    """A live process (every thread stopped while open); use as a context manager.

    ``threads()`` reports registers as they were when all threads had stopped;
    nothing is marked crashed; the main thread (tid == pid) comes first.
    """

    #: Pages read during one walk stay valid for that walk: the unwinder may cache them
    #: (dwarfunwind.unwind.memory), one system call per page instead of one per word.
    cache_pages = True

    #: ``read_memory`` returns the process's own bytes, text included (nothing is filled in from files
    #: on this machine, as a core's omitted pages are): a module whose file on disk is another build
    #: is read from memory instead (dwarfunwind/elf/memimage.py).
    memory_is_own = True

    #: Test hook: called with each tid right after it has been seized (and again
    #: once it has stopped). Lets a test raise KeyboardInterrupt mid-attach.
    _attach_hook: Callable[[int], None] | None = None

    def __init__(self, pid: int, *, stopped: bool = True) -> None:
        self.pid = int(pid)
        self.name = f"pid {self.pid}"
        self._closed = False
        self._resuming = False
        #: tid → None while seized but not known stopped; signal to re-inject (0 for none) once stopped.
        self._seized: dict[int, int | None] = {}
        self._mem_fd: int | None = None
        self._threads: list[ThreadInfo] = []
        #: Threads that could not be read, said once each (a vfork parent, a thread that did not stop).
        self.notes: list[str] = []
        self._noted: set[int] = set()
        self._jit: tuple[tuple[int, int, int], PerfMap | None] | None = None
        if self.pid <= 0:
            raise TargetError(f"pid {pid}: not a process id")
        try:
            self._open_memory()
            if stopped:
                self.stop()
        except BaseException:
            self.close()
            raise

    # -- attaching ----------------------------------------------------------------------------

    def _tasks(self) -> list[int]:
        try:
            names = os.listdir(f"/proc/{self.pid}/task")
        except FileNotFoundError:
            if self._seized:
                raise TargetError(f"pid {self.pid}: exited while attaching") from None
            raise TargetError(f"pid {self.pid}: no such process") from None
        except OSError as e:
            raise TargetError(f"pid {self.pid}: cannot list threads: {e.strerror or e}") from None
        return sorted(int(n) for n in names if n.isascii() and n.isdigit())

    def _open_memory(self) -> None:
        if not os.path.exists(f"/proc/{self.pid}"):
            raise TargetError(f"pid {self.pid}: no such process")
        if self.pid == os.getpid():
            raise TargetError(f"pid {self.pid}: cannot attach to this process itself")
        self._check_not_zombie()
        try:
            self._mem_fd = os.open(f"/proc/{self.pid}/mem", os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            raise TargetError(f"pid {self.pid}: no such process") from None
        except PermissionError:
            raise TargetError(f"pid {self.pid}: permission denied reading its memory "
                              "(not the same user, or ptrace restricted by kernel.yama.ptrace_scope)") from None
        except OSError as e:
            raise TargetError(f"pid {self.pid}: cannot open /proc/{self.pid}/mem: {e.strerror or e}") from None

    @property
    def stopped(self) -> bool:
        """True between :meth:`stop` and :meth:`resume` (threads seized and stopped)."""
        return bool(self._seized)

    def stop(self) -> None:
        """Stop every thread and read its registers (a new sample); :meth:`threads` then reports them.

        On any error every thread seized so far is detached again before the error propagates.
        """
        if self._closed:
            raise TargetError(f"pid {self.pid}: target is closed")
        if self._seized:
            return  # already stopped
        try:
            self._stop_all()
        except BaseException:
            self.resume()
            raise

    def _stop_all(self) -> None:
        gone: set[int] = set()
        for _ in range(MAX_ATTACH_ROUNDS):
            new = [t for t in self._tasks() if t not in self._seized and t not in gone]
            if not new:
                break
            for tid in new:
                if not self._seize(tid):
                    gone.add(tid)
        else:
            raise TargetError(f"pid {self.pid}: threads kept appearing for {MAX_ATTACH_ROUNDS} rounds "
                              "while attaching")
        stopped = [tid for tid, sig in self._seized.items() if sig is not None]
        if not stopped:
            if self._seized or self._noted:
                raise TargetError(f"pid {self.pid}: no thread could be stopped ({'; '.join(self.notes)})")
            raise TargetError(f"pid {self.pid}: exited while attaching")

        threads = []
        for tid in sorted(stopped, key=lambda t: (t != self.pid, t)):
            regs = _UserRegs()
            try:
                _ptrace(PTRACE_GETREGS, tid, None, ctypes.addressof(regs))
            except OSError as e:
                if e.errno == errno.ESRCH:
                    continue  # it exited (e.g. killed) while we were attaching the others
                raise TargetError(f"pid {self.pid}: reading registers of thread {tid}: {e.strerror}") from None
            threads.append(ThreadInfo(tid=tid, registers=registers_from_user_regs(bytes(regs)),
                                      name=self._comm(tid)))
        if not threads:
            raise TargetError(f"pid {self.pid}: exited while attaching")
        self._threads = threads

    def _note(self, tid: int, text: str) -> None:
        if tid not in self._noted:
            self._noted.add(tid)
            self.notes.append(f"pid {self.pid}: thread {tid} {text}")

    def _in_vfork(self, tid: int) -> bool:
        """True if ``tid`` waits in vfork() for its child (state D in kernel_clone): it cannot stop.

        Seizing it would leave it traced until the child execs or exits, so it is not touched.
        """
        try:
            with open(f"/proc/{self.pid}/task/{tid}/stat", "rb") as f:
                stat = f.read(4096)
            rest = stat[stat.rfind(b")") + 1:].split()
            if not rest or rest[0] != b"D":
                return False
            with open(f"/proc/{self.pid}/task/{tid}/wchan", "rb") as f:
                wchan = f.read(256)
        except OSError:
            return False
        return b"vfork" in wchan or wchan.startswith(b"kernel_clone")

    def _check_not_zombie(self) -> None:
        try:
            with open(f"/proc/{self.pid}/stat", "rb") as f:
                stat = f.read(4096)
        except FileNotFoundError:
            raise TargetError(f"pid {self.pid}: no such process") from None
        except OSError:
            return  # let the attach itself report the problem
        # State is the field after "(comm)"; comm may contain ") ", so use the last one.
        rest = stat[stat.rfind(b")") + 1:].split()
        if rest and rest[0] in (b"Z", b"X"):
            raise TargetError(f"pid {self.pid}: the process has exited (zombie), nothing to attach to")

    def _seize(self, tid: int) -> bool:
        """Seize and stop one thread; False if it vanished or could not be stopped (then said in notes)."""
        if self._in_vfork(tid):
            self._note(tid, "is a vfork() parent waiting for its child to exec or exit (state D); "
                            "not stopped, its stack is not read")
            return False
        try:
            _ptrace(PTRACE_SEIZE, tid, None, None)
        except OSError as e:
            if e.errno == errno.ESRCH:
                return False
            if e.errno == errno.EPERM:
                if not os.path.exists(f"/proc/{self.pid}/task/{tid}"):
                    return False
                raise TargetError(f"pid {self.pid}: permission denied attaching to thread {tid} "
                                  "(already traced by a debugger, not the same user, or "
                                  "kernel.yama.ptrace_scope)") from None
            raise TargetError(f"pid {self.pid}: cannot attach to thread {tid}: {e.strerror}") from None
        self._seized[tid] = None
        if self._attach_hook is not None:
            self._attach_hook(tid)
        try:
            _ptrace(PTRACE_INTERRUPT, tid, None, None)
        except OSError as e:
            if e.errno == errno.ESRCH:
                self._seized.pop(tid, None)
                return False
            raise TargetError(f"pid {self.pid}: cannot stop thread {tid}: {e.strerror}") from None
        stopped = self._wait_stop(tid, timeout=STOP_TIMEOUT)
        if not stopped and tid in self._seized:
            # Seized but still not stopped (an uninterruptible wait): its registers cannot be read.
            # It stays in _seized, so resume() tries again to detach it once it stops.
            self._note(tid, f"did not stop within {STOP_TIMEOUT:g} s (state {self._state(tid)}); "
                            "its stack is not read")
            return False
        if self._attach_hook is not None and stopped:
            self._attach_hook(tid)
        return stopped

    def _wait_stop(self, tid: int, timeout: float) -> bool:
        """Wait for ``tid`` to report a stop and record the signal to give back; False if it exited or timed out."""
        deadline = time.monotonic() + timeout
        spins = 0
        while True:
            try:
                wpid, status = os.waitpid(tid, WALL | os.WNOHANG)
            except ChildProcessError:
                self._seized.pop(tid, None)  # already gone and reaped
                return False
            except InterruptedError:
                continue
            if wpid == 0:
                if time.monotonic() >= deadline:
                    return False
                # A stop usually follows within microseconds: yield first, then sleep.
                spins += 1
                if spins < 50:
                    os.sched_yield()
                else:
                    time.sleep(0.0005 if spins < 200 else 0.005)
                continue
            if os.WIFSTOPPED(status):
                sig = os.WSTOPSIG(status)
                event = status >> 16
                # PTRACE_EVENT_STOP is our interrupt (or a group-stop): nothing to give back.
                # A plain signal-delivery-stop holds a signal the thread must still get.
                self._seized[tid] = 0 if event == PTRACE_EVENT_STOP else sig
                return True
            # Exited or killed: nothing left to detach.
            self._seized.pop(tid, None)
            return False

    # -- Target protocol ----------------------------------------------------------------------

    def threads(self) -> Sequence[ThreadInfo]:
        """Every thread that was stopped, the main thread (tid == pid) first; none crashed."""
        return list(self._threads)

    def read_memory(self, address: int, size: int) -> bytes:
        if self._closed or self._mem_fd is None:
            raise TargetError(f"pid {self.pid}: target is closed")
        if not check_read(address, size):
            return b""
        try:
            data = os.pread(self._mem_fd, size, address)
        except (OSError, OverflowError):
            # EIO for unmapped memory; OverflowError for addresses past off_t (vsyscall).
            raise MemoryReadError(address, size) from None
        if len(data) != size:
            raise MemoryReadError(address, size)
        return data

    def mappings(self) -> Sequence[Mapping]:
        """Regions from /proc/PID/maps, sorted by start."""
        try:
            with open(f"/proc/{self.pid}/maps", encoding="utf-8", errors="surrogateescape") as f:
                lines = []
                for n, line in enumerate(f):
                    if n >= MAX_MAPS_LINES:
                        break
                    lines.append(line)
        except OSError as e:
            raise TargetError(f"pid {self.pid}: cannot read /proc/{self.pid}/maps: {e.strerror or e}") from None
        return parse_proc_maps(lines, f"/proc/{self.pid}/maps")

    def resume(self) -> None:
        """Detach every seized thread: the process runs on, untraced. Safe to call at any time.

        Each thread leaves the seized set only once it is detached, so a
        KeyboardInterrupt in the middle leaves the rest for the next call.
        """
        if self._resuming:
            return  # re-entered (from a signal handler, say): the outer call finishes the work
        self._resuming = True
        try:
            while self._seized:
                tid = next(iter(self._seized))
                self._detach(tid)
                self._seized.pop(tid, None)
        finally:
            self._resuming = False

    def close(self) -> None:
        """Detach every seized thread, leaving the process running; then release /proc/PID/mem.

        Idempotent and safe to re-enter: the target is marked closed only after
        every thread is detached, so a close() interrupted by KeyboardInterrupt is
        finished by the next call (or by ``__del__``).
        """
        if self._closed:
            return
        self.resume()
        fd, self._mem_fd = self._mem_fd, None
        if fd is not None:
            os.close(fd)
        self._closed = True

    def _detach(self, tid: int) -> None:
        sig = self._seized.get(tid) or 0
        try:
            _ptrace(PTRACE_DETACH, tid, None, sig)
            return
        except OSError as e:
            if e.errno != errno.ESRCH:
                return
        # ESRCH: gone, or seized but not (known to be) stopped: PTRACE_DETACH needs a
        # stopped tracee, so stop it first. A thread that is gone makes these fail quietly.
        try:
            _ptrace(PTRACE_INTERRUPT, tid, None, None)
        except OSError:
            return
        if self._wait_stop(tid, timeout=DETACH_WAIT_SECONDS):
            try:
                _ptrace(PTRACE_DETACH, tid, None, self._seized.get(tid) or 0)
            except OSError:
                pass
        elif tid in self._seized:
            # Still in the kernel after all this time: the kernel detaches it when this process exits.
            self.notes.append(f"pid {self.pid}: thread {tid} could not be detached (it never stopped); "
                              "it stays traced until this process exits")

    def __enter__(self) -> LiveTarget:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def __del__(self) -> None:
        # Last resort: a target dropped without close() must not leave the process stopped.
        if not getattr(self, "_closed", True):
            try:
                self.close()
            except Exception:
                pass

    # -- extras -------------------------------------------------------------------------------

    def main_executable(self) -> str | None:
        """The executable's path as /proc/PID/maps names it (the /proc/PID/exe link)."""
        try:
            return os.readlink(f"/proc/{self.pid}/exe")
        except OSError:
            return None

    def mapped_file(self, mapping: Mapping) -> str | None:
        """``/proc/PID/map_files/START-END``: the very file mapped at ``mapping``, also after it was
        unlinked or replaced on disk (a package upgrade under a running daemon). None when it cannot
        be opened (the kernel allows it only with CAP_SYS_ADMIN or CAP_CHECKPOINT_RESTORE)."""
        link = f"/proc/{self.pid}/map_files/{mapping.start:x}-{mapping.end:x}"
        return link if is_regular(link) else None

    def default_sysroot(self) -> str | None:
        """``/proc/PID/root`` when the process sees other files than we do (another mount namespace or
        root directory: a container); None otherwise. Its paths name files as the process sees them."""
        try:
            other = (os.readlink(f"/proc/{self.pid}/ns/mnt") != os.readlink("/proc/self/ns/mnt")
                     or _same_file(f"/proc/{self.pid}/root", "/") is False)
        except OSError:
            return None
        return f"/proc/{self.pid}/root" if other else None

    def jit_symbols(self) -> PerfMap | None:
        """The JIT's ``/tmp/perf-PID.map`` (dwarfunwind/symbolize/perfmap.py), read again only when it
        changed; None without one. A map we will not read is said once in :attr:`notes`."""
        from ..symbolize.perfmap import read_perf_map

        try:
            st = os.stat(f"/tmp/perf-{self.pid}.map", follow_symlinks=False)
            owner = os.stat(f"/proc/{self.pid}").st_uid
        except OSError:
            return None
        key = (st.st_ino, st.st_size, st.st_mtime_ns)
        if self._jit is None or self._jit[0] != key:
            perf_map, why = read_perf_map(self.pid, owner)
            if why is not None and why not in self.notes:
                self.notes.append(why)
            self._jit = (key, perf_map)
        return self._jit[1]

    def _state(self, tid: int) -> str:
        try:
            with open(f"/proc/{self.pid}/task/{tid}/stat", "rb") as f:
                stat = f.read(4096)
            rest = stat[stat.rfind(b")") + 1:].split()
            return rest[0].decode("ascii", "replace") if rest else "?"
        except OSError:
            return "?"

    def _comm(self, tid: int) -> str | None:
        try:
            with open(f"/proc/{self.pid}/task/{tid}/comm", "rb") as f:
                return f.read(64).rstrip(b"\n").decode("utf-8", "replace") or None
        except OSError:
            return None


def _same_file(a: str, b: str) -> bool | None:
    try:
        sa, sb = os.stat(a), os.stat(b)
    except OSError:
        return None
    return (sa.st_dev, sa.st_ino) == (sb.st_dev, sb.st_ino)


def parse_proc_maps(lines: Sequence[str], where: str = "maps") -> list[Mapping]:
    """Mappings from /proc/PID/maps lines (``start-end perms offset dev inode [path]``)."""
    out = []
    for n, line in enumerate(lines):
        fields = line.rstrip("\n").split(None, 5)
        if not fields:
            continue
        try:
            start_s, end_s = fields[0].split("-", 1)
            start, end = int(start_s, 16), int(end_s, 16)
            perms = fields[1]
            offset = int(fields[2], 16)
        except (ValueError, IndexError):
            raise TargetError(f"{where}: line {n + 1} is not a mapping: {line.strip()[:80]!r}") from None
        path = fields[5] if len(fields) > 5 and fields[5] else None
        out.append(Mapping(start, end, offset, path, readable=perms[:1] == "r",
                           writable=perms[1:2] == "w", executable=perms[2:3] == "x"))
    out.sort(key=lambda m: m.start)
    return out


__all__ = ["LiveTarget", "parse_proc_maps"]
