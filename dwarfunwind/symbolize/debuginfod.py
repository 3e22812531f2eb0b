"""A debuginfod client: debug files and executables by build-id, from ``DEBUGINFOD_URLS``.

Follows the elfutils client's conventions, and shares its cache:

* ``DEBUGINFOD_URLS``: space-separated server URLs, tried in order (``--debuginfod URL`` goes first);
* ``DEBUGINFOD_CACHE_PATH``: the cache, else ``$XDG_CACHE_HOME/debuginfod_client`` (``~/.cache``),
  laid out as ``BUILDID/debuginfo`` and ``BUILDID/executable``;
* ``DEBUGINFOD_TIMEOUT``: seconds (default 90, as elfutils) both to connect and between bytes;
  a whole fetch never takes longer than twice that, and a server that did not answer is not
  asked again in this process;
* ``DEBUGINFOD_MAXSIZE``: files larger than this are refused (default 4 GiB).

The standard library's urllib is enough (one GET, streamed to a temporary file in the
cache directory, renamed when complete); it is imported only when a fetch happens. A
build-id that no server has is remembered for the run, and each failure is said once
(:func:`problems`). Nothing here prints: progress goes to the callback the CLI sets.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

DEFAULT_TIMEOUT = 90.0
DEFAULT_MAXSIZE = 4 << 30

#: Called as progress(what, bytes_done, bytes_total_or_None) during downloads; set by the CLI.
Progress = Callable[[str, int, "int | None"], None]

_extra_urls: list[str] = []
_progress: Progress | None = None
_failed: set[tuple[str, str]] = set()
#: Servers that did not answer (refused, timed out): not asked again in this process, so a dead
#: server costs the walk one timeout, not one per module.
_dead: dict[str, str] = {}
_problems: list[str] = []


def configure(url: str | None = None, progress: Progress | None = None) -> None:
    """Add a server tried before ``DEBUGINFOD_URLS``; set the progress callback."""
    global _progress
    if url:
        _extra_urls[:] = [url]
    _progress = progress


def urls() -> list[str]:
    """The servers to ask, in order (none: the client is off)."""
    env = os.environ.get("DEBUGINFOD_URLS", "").split()
    return [u.rstrip("/") for u in _extra_urls + [u for u in env if u not in _extra_urls] if u]


def enabled() -> bool:
    return bool(urls())


def cache_path() -> str:
    explicit = os.environ.get("DEBUGINFOD_CACHE_PATH")
    if explicit:
        return explicit
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "debuginfod_client")


def _number(name: str, default: float) -> float:
    try:
        value = float(os.environ.get(name, ""))
        return value if value > 0 else default
    except ValueError:
        return default


def problems() -> list[str]:
    """One line per file that could not be fetched (then cleared)."""
    out = list(_problems)
    _problems.clear()
    return out


def fetch(build_id: bytes, kind: str = "debuginfo", what: str = "") -> str | None:
    """The local path of ``/buildid/HEX/{kind}`` (``debuginfo`` or ``executable``), fetched if needed, or None."""
    if not build_id or kind not in ("debuginfo", "executable"):
        return None
    hexid = build_id.hex()
    cached = os.path.join(cache_path(), hexid, kind)
    if os.path.isfile(cached) and os.path.getsize(cached) > 0:
        return cached
    servers = urls()
    if not servers or (hexid, kind) in _failed:
        return None
    reasons = []
    for server in servers:
        if server in _dead:
            reasons.append(f"{server}: {_dead[server]} (earlier; not asked again)")
            continue
        reason = _download(f"{server}/buildid/{hexid}/{kind}", cached, what or hexid)
        if reason is None:
            return cached
        if not reason.startswith(("HTTP ", "over ", "empty")):
            _dead[server] = reason
        reasons.append(f"{server}: {reason}")
    _failed.add((hexid, kind))
    _problems.append(f"{what + ': ' if what else ''}debuginfod has no {kind} for build-id {hexid} "
                     f"({'; '.join(reasons)})")
    return None


def _download(url: str, dest: str, what: str) -> str | None:
    """GET ``url`` into ``dest``; None on success, else why not (one short phrase)."""
    import socket
    import urllib.error
    import urllib.request

    timeout = _number("DEBUGINFOD_TIMEOUT", DEFAULT_TIMEOUT)
    maxsize = int(_number("DEBUGINFOD_MAXSIZE", DEFAULT_MAXSIZE))
    deadline = time.monotonic() + 2 * timeout
    tmp = None
    try:
        request = urllib.request.Request(url, headers={"User-Agent": "dwarfunwind"})
        with urllib.request.urlopen(request, timeout=timeout) as response:
            size = response.headers.get("Content-Length")
            total = int(size) if size and size.isdigit() else None
            if total is not None and total > maxsize:
                return f"{total} bytes is over DEBUGINFOD_MAXSIZE ({maxsize})"
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            tmp = f"{dest}.{os.getpid()}.tmp"
            done = 0
            with open(tmp, "wb") as out:
                while True:
                    if time.monotonic() > deadline:
                        return f"download took longer than {2 * timeout:g} s"
                    chunk = response.read(1 << 16)
                    if not chunk:
                        break
                    done += len(chunk)
                    if done > maxsize:
                        return f"over DEBUGINFOD_MAXSIZE ({maxsize} bytes)"
                    out.write(chunk)
                    if _progress is not None:
                        _progress(what, done, total)
            if done == 0:
                return "empty reply"
            os.replace(tmp, dest)
            tmp = None
            return None
    except urllib.error.HTTPError as e:
        return f"HTTP {e.code}"
    except urllib.error.URLError as e:
        reason = e.reason
        if isinstance(reason, (socket.timeout, TimeoutError)):
            return f"no answer within {timeout:g} s"
        return str(getattr(reason, "strerror", None) or reason)
    except TimeoutError:
        return f"no answer within {timeout:g} s"
    except (OSError, ValueError) as e:
        return str(e)
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass
