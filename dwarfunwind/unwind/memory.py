"""Reading the walk's memory: mostly 8-byte words (saved registers, return addresses).

A target may offer direct access to bytes it holds: a class that defines
``locate(address, size)`` returns ``(buffer, offset)`` where those bytes can be unpacked
in place, or None (a core: its own mapping). A class that sets ``cache_pages = True`` (a
live process: one system call per read otherwise) gets a page cache that lives for one
walk, since the process may run again between walks. Anything else, including a wrapper
that must see every read (RecordingTarget, whose ``__getattr__`` would hand out the inner
target's methods), reads through ``read_memory`` itself: both are looked up on the class,
not the instance.
"""

from __future__ import annotations

import struct

from ..errors import MemoryReadError

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: typing costs ~5 ms of start-up
    import mmap
    from collections.abc import Callable

    from ..targets.base import Target

    ReadWord = Callable[[int], int]
    #: ``locate(address, size)`` -> ``(buffer, offset)`` holding those bytes, or None.
    Locate = Callable[[int, int], "tuple[bytes | mmap.mmap, int] | None"]

PAGE_SIZE = 4096
#: A walk touches a few pages per thread; past this many the cache starts again (bounded memory).
MAX_CACHED_PAGES = 256

_U64 = struct.Struct("<Q")


def walk_memory(target: Target) -> tuple[ReadWord, Locate | None]:
    """``(read_word, locate)`` for one walk of ``target``.

    ``read_word(address)`` is ``int.from_bytes(read_memory(address, 8), "little")``, with the
    same MemoryReadError; ``locate`` is None when the target offers no direct access.
    """
    read = target.read_memory
    locate = getattr(type(target), "locate", None)
    if locate is not None:
        locate = locate.__get__(target)
    elif getattr(type(target), "cache_pages", False):
        locate = _page_cache(read)
    if locate is None:
        return (lambda address: int.from_bytes(read(address, 8), "little")), None
    unpack = _U64.unpack_from
    find = locate

    def read_word(address: int) -> int:
        where = find(address, 8)
        if where is not None:
            return unpack(where[0], where[1])[0]
        return int.from_bytes(read(address, 8), "little")

    return read_word, locate


def _page_cache(read: Callable[[int, int], bytes]) -> Locate:
    pages: dict[int, bytes] = {}

    def locate(address: int, size: int) -> tuple[bytes, int] | None:
        base = address & ~(PAGE_SIZE - 1)
        off = address - base
        if off + size > PAGE_SIZE:
            return None
        page = pages.get(base)
        if page is None:
            if len(pages) >= MAX_CACHED_PAGES:
                pages.clear()
            try:
                page = read(base, PAGE_SIZE)
            except MemoryReadError:
                page = b""  # not all readable: the caller reads exactly what it needs
            pages[base] = page
        return (page, off) if page else None

    return locate
