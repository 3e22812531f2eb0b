"""The one small protocol every target implements."""

from __future__ import annotations

from ..errors import MemoryReadError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import NamedTuple, Protocol, runtime_checkable
else:  # typing costs ~5 ms of start-up (dwarfunwind/_typing.py)
    from .._typing import NamedTuple, Protocol, runtime_checkable

# Records are NamedTuples, not dataclasses: importing dataclasses (and inspect)
# costs ~10 ms on every CLI run (bench/bench_unwind.py).


class ThreadInfo(NamedTuple):
    """One thread as the target saw it stopped.

    ``registers`` maps DWARF register numbers (0..15 for the GPRs, 16 for rip)
    to values; registers the target does not know are absent.
    """

    tid: int
    registers: dict[int, int]
    #: True for the thread that crashed (the first NT_PRSTATUS of a kernel core).
    crashed: bool = False
    #: The signal that stopped the thread, when known.
    signal: int | None = None
    name: str | None = None


class Mapping(NamedTuple):
    """A region of the target's address space.

    ``path`` is the file mapped there (as the target names it: NT_FILE or
    /proc/PID/maps), ``"[vdso]"``/``"[stack]"`` for special regions, None for
    anonymous memory. ``offset`` is the file offset of ``start``.
    """

    start: int
    end: int
    offset: int = 0
    path: str | None = None
    readable: bool = True
    writable: bool = False
    executable: bool = False
    #: Not part of equality: the same region, whether or not its build-id was read.
    build_id: bytes | None = None

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Mapping) and self[:7] == other[:7]

    def __ne__(self, other: object) -> bool:
        return not self == other

    def __hash__(self) -> int:
        return hash(self[:7])


def check_read(address: int, size: int) -> bool:
    """Validate a read request for a target: False for an empty read, MemoryReadError for an impossible one."""
    if size == 0:
        return False
    if size < 0 or address < 0 or address + size > 1 << 64:
        raise MemoryReadError(address, size)
    return True


@runtime_checkable
class Target(Protocol):
    """Threads, registers, memory and mappings of a stopped program."""

    #: A short description for messages: the core's path, ``pid 1234``, the snapshot's path.
    name: str

    def threads(self) -> Sequence[ThreadInfo]:
        """Every thread, the crashed (or first) one first."""
        ...

    def read_memory(self, address: int, size: int) -> bytes:
        """Exactly ``size`` bytes at ``address``.

        Raises :class:`~dwarfunwind.errors.MemoryReadError` when any byte is not
        available (unmapped, or omitted from a core and not found in a file).
        """
        ...

    def mappings(self) -> Sequence[Mapping]:
        """The address-space regions, sorted by start address."""
        ...

    def close(self) -> None:
        """Release files; for a live process, detach and leave it running."""
        ...
