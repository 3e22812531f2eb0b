"""Address -> inline chain with file and line, through Sentry's ``symbolic`` SymCache.

Measured against our pyelftools line-table walk on the same cores (cold, whole
process, 2-core machine): libc's 6 MB debug file costs ~0.2-0.3 s to turn into
a SymCache, about what pyelftools needs for the line rows of one or two units,
and the SymCache also holds every ``DW_TAG_inlined_subroutine`` with its call
file and line (pyelftools would need a Python DIE walk for that, far slower).
Written to disk per build-id, it reopens by mmap in ~0.2 ms: that is what makes
``--source`` cost about what the walk costs. ``symbolic`` is imported here only,
on demand (~55 ms of cffi), never by a plain ``unwind``.

The disk cache lives in ``$XDG_CACHE_HOME/dwarfunwind/symcache`` (default
``~/.cache``); ``DWARFUNWIND_NO_CACHE=1`` turns it off. A cache file that does
not open is rebuilt; files are written to a temporary name and renamed, so a
reader never sees half a file.
"""

from __future__ import annotations

import os
from typing import Any, NamedTuple

from ..errors import DwarfUnwindError

#: Bound on the inline chain served for one address (a corrupt file could claim any depth).
MAX_INLINE_DEPTH = 256
#: The disk cache is pruned, least recently used first, to these bounds whenever a file is added.
MAX_CACHE_BYTES = 2 << 30
MAX_CACHE_FILES = 512


class SourceLocation(NamedTuple):
    """One level of an inline chain: the function and where in it (file, line; None/0 when unknown)."""

    linkage_name: str
    file: str | None
    line: int


def cache_dir() -> str | None:
    """Where SymCaches are kept, or None when caching is turned off."""
    if os.environ.get("DWARFUNWIND_NO_CACHE", "") not in ("", "0"):
        return None
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "dwarfunwind", "symcache")


class SourceTable:
    """Inline chains, files and lines of one ELF file carrying DWARF (``.debug_info`` + ``.debug_line``)."""

    def __init__(self, path: str, build_id: bytes | None = None, image_base: int = 0) -> None:
        self.path = path
        self.build_id = build_id
        #: SymCache addresses are relative to the object's first PT_LOAD (0x400000 in a static executable).
        self.image_base = image_base
        self._cache: Any = None

    def _open(self) -> Any:
        if self._cache is None:
            try:
                from symbolic.exceptions import SymbolicError
            except ImportError as e:
                raise DwarfUnwindError(f"source lines need the 'symbolic' package ({e})") from None
            self._cache = self._load(SymbolicError)
        return self._cache

    def _load(self, symbolic_error: type[Exception]) -> Any:
        from symbolic.debuginfo import Archive
        from symbolic.symcache import SymCache

        directory = cache_dir()
        cached = None
        if directory is not None and self.build_id:
            cached = os.path.join(directory, self.build_id.hex() + ".symc")
            try:
                sc = SymCache.open(cached)
                if sc.is_latest_version:
                    try:
                        os.utime(cached)  # recently used: pruned last
                    except OSError:
                        pass
                    return sc
            except (symbolic_error, OSError):
                pass  # missing or corrupt: rebuilt below
        try:
            archive = Archive.open(self.path)
            obj = next(iter(archive.iter_objects()), None)
            if obj is None:
                raise DwarfUnwindError(f"{self.path}: no object in file")
            sc = obj.make_symcache()
        except (symbolic_error, OSError) as e:
            raise DwarfUnwindError(f"{self.path}: cannot read debug info ({_one_line(e)})") from None
        if cached is not None:
            import tempfile

            try:
                os.makedirs(os.path.dirname(cached), exist_ok=True)
                fd, tmp = tempfile.mkstemp(dir=os.path.dirname(cached), suffix=".tmp")
                try:
                    with os.fdopen(fd, "wb") as f:
                        sc.dump_into(f)
                    os.replace(tmp, cached)
                    _prune(os.path.dirname(cached))
                except BaseException:
                    os.unlink(tmp)
                    raise
            except OSError:
                pass  # a cache we cannot write is only a slower next run
        return sc

    def lookup(self, address: int) -> list[SourceLocation]:
        """The chain at ``address`` (unrelocated), innermost inlined function first, the containing one last."""
        sc = self._open()
        try:
            hits = sc.lookup(address - self.image_base) if address >= self.image_base else []
        except Exception as e:  # symbolic raises its own types on corrupt data
            raise DwarfUnwindError(f"{self.path}: cannot look up {address:#x} ({_one_line(e)})") from None
        return [SourceLocation(h.symbol, h.full_path if h.line else None, h.line or 0)
                for h in hits[:MAX_INLINE_DEPTH]]


def _prune(directory: str) -> None:
    """Remove the least recently used SymCaches beyond MAX_CACHE_FILES / MAX_CACHE_BYTES."""
    entries = []
    with os.scandir(directory) as it:
        for i, entry in enumerate(it):
            if i >= 4 * MAX_CACHE_FILES:
                break  # someone else's huge directory: not ours to sort
            if entry.name.endswith(".symc") and entry.is_file(follow_symlinks=False):
                st = entry.stat(follow_symlinks=False)
                entries.append((st.st_mtime, st.st_size, entry.path))
    entries.sort(reverse=True)  # newest first
    total = 0
    for n, (_, size, path) in enumerate(entries):
        total += size
        if n >= MAX_CACHE_FILES or total > MAX_CACHE_BYTES:
            try:
                os.unlink(path)
            except OSError:
                pass


def _one_line(e: Exception) -> str:
    """symbolic's errors come with a "caused by:" line per cause: one line, bounded."""
    text = "; ".join(part.strip() for part in str(e).splitlines() if part.strip())
    return text if len(text) <= 300 else text[:300] + "..."
