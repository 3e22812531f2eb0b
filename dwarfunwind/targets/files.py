"""Opening the files a target names, safely, and naming them printably.

A core or snapshot from someone else can name any path: a FIFO (``open()``
would block for ever), a device, a directory, a file whose name is not UTF-8.
Every candidate is checked with ``stat`` to be a regular file and opened with
``O_NONBLOCK``, and names are shown with undecodable bytes escaped.
"""

from __future__ import annotations

import os
import stat

from ..errors import TargetError

#: What the kernel appends to the path of a mapped file that was unlinked (d_path).
DELETED = " (deleted)"


def is_regular(path: str) -> bool:
    """True if ``path`` names a regular file (following symlinks); never blocks, never raises."""
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except (OSError, ValueError):  # ValueError: an embedded NUL from a corrupt note
        return False


def file_kind(mode: int) -> str:
    """A short name for the type of file ``mode`` describes (for messages)."""
    for test, name in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "not a regular file"


def open_regular(path: str, what: str = "file") -> int:
    """A read-only descriptor of the regular file ``path``; TargetError naming it otherwise.

    Opened with ``O_NONBLOCK`` so that a FIFO swapped in after a ``stat`` cannot
    block the open, then checked with ``fstat``.
    """
    shown = printable(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except (OSError, ValueError) as e:
        reason = getattr(e, "strerror", None) or str(e)
        raise TargetError(f"{shown}: cannot open {what}: {reason}") from None
    try:
        mode = os.fstat(fd).st_mode
    except OSError as e:
        os.close(fd)
        raise TargetError(f"{shown}: cannot open {what}: {e.strerror or e}") from None
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise TargetError(f"{shown}: {file_kind(mode)}, not a {what}")
    return fd


def printable(text: str, limit: int = 512) -> str:
    """``text`` safe to print on any terminal and encoding-robust.

    Bytes that were not UTF-8 (decoded with ``surrogateescape``) come out as
    ``\\xNN``, other lone surrogates as ``\\udNNN``, control characters escaped;
    at most ``limit`` characters, so a hostile name cannot make a 10 MB line.
    """
    if text.isprintable() and len(text) <= limit:
        try:
            text.encode("utf-8")
            return text
        except UnicodeEncodeError:
            pass
    out = []
    for ch in text[:limit]:
        o = ord(ch)
        if 0xDC80 <= o <= 0xDCFF:
            out.append(f"\\x{o - 0xDC00:02x}")
        elif 0xD800 <= o <= 0xDFFF:
            out.append(f"\\u{o:04x}")
        elif not ch.isprintable():
            out.append(ch.encode("unicode_escape").decode("ascii"))
        else:
            out.append(ch)
    if len(text) > limit:
        out.append(f"...({len(text) - limit} more characters)")
    return "".join(out)


def check_directory(path: str, what: str) -> None:
    """TargetError unless ``path`` is an existing directory (``--sysroot``)."""
    try:
        mode = os.stat(path).st_mode
    except (OSError, ValueError) as e:
        raise TargetError(f"{what} {printable(path)}: {getattr(e, 'strerror', None) or e}") from None
    if not stat.S_ISDIR(mode):
        raise TargetError(f"{what} {printable(path)}: {file_kind(mode)}, not a directory")


def candidate_paths(path: str, *, override: str | None = None, sysroot: str | None = None,
                    base_dirs: list[str] | tuple[str, ...] = (), build_id: bytes | None = None,
                    rejected: list[str] | None = None) -> list[str]:
    """Where the file a target names ``path`` may be on this machine, best first; only regular files.

    ``override`` (``--exe``), then ``path`` under ``sysroot``; an absolute
    ``path`` itself; a relative one (``.////dir/prog``, from a dumper that
    recorded it so) under each of ``base_dirs`` (the core's directory); the
    same for ``path`` without the kernel's `` (deleted)`` suffix; then
    the build-id links distributions keep (``/usr/lib/.build-id/xx/rest``,
    under the sysroot first), so a module from another machine is matched by
    its build-id. Paths that exist but are not regular files (a FIFO would block
    ``open()``) are left out and, with ``rejected``, described there.
    """
    out = [override] if override else []
    names = [path]
    if path.endswith(DELETED):
        # The kernel's name (NT_FILE, /proc/PID/maps, perf's MMAP) for a file unlinked or replaced
        # (as a package upgrade replaces it) while mapped: the same file may be back at its path.
        names.append(path[: -len(DELETED)])
    for name in names:
        rel = os.path.normpath(name).lstrip("/")
        if sysroot:
            out.append(os.path.join(sysroot, rel))
        if os.path.isabs(name):
            out.append(name)
        else:
            out += [os.path.join(d, rel) for d in base_dirs]
    if build_id and len(build_id) > 1:
        h = build_id.hex()
        roots = [sysroot, "/"] if sysroot else ["/"]
        out += [os.path.join(root, "usr/lib/.build-id", h[:2], h[2:]) for root in roots]
    seen: set[str] = set()
    result = []
    for c in out:
        if c not in seen and is_regular(c):
            seen.add(c)
            result.append(c)
    if rejected is not None:
        for c in out:
            try:
                mode = os.stat(c).st_mode
            except (OSError, ValueError):
                continue
            if not stat.S_ISREG(mode):
                rejected.append(f"{printable(c)}: {file_kind(mode)}, not a regular file")
    return result


__all__ = ["DELETED", "candidate_paths", "check_directory", "file_kind", "is_regular", "open_regular", "printable"]
