"""C++ and Rust (legacy and v0) names, demangled as gdb prints them, with bounded cost.

The demangler is GNU ``c++filt`` (binutils): it is libiberty's, the one gdb
links, so names come out exactly as gdb's (``-i``: no crate disambiguators or
legacy hashes, as gdb shows Rust names). It runs as a child process, once per
batch of names, under an address-space limit, a CPU limit and a wall-clock
timeout: a hostile 250-byte name can make any Itanium demangler build hundreds
of megabytes over tens of seconds (``__cxa_demangle`` in-process cannot be
stopped). Names longer than :data:`MAX_NAME_LENGTH` are not demangled. A batch
that fails is split in halves so only the guilty names stay raw, and the whole
run has a total budget (:data:`TOTAL_BUDGET` seconds) after which names stay raw.
Where ``c++filt`` is missing, names stay raw and :func:`problems` says so once.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable

#: Longer names are kept raw (real C++/Rust symbols this long are rare; hostile ones are short anyway).
MAX_NAME_LENGTH = 4096
#: Wall-clock limit for one c++filt batch, in seconds.
BATCH_TIMEOUT = 1.0
#: Total demangling time per process, in seconds; after it, names stay raw.
TOTAL_BUDGET = 10.0
#: Address-space limit of the c++filt child, in bytes.
MEMORY_LIMIT = 128 << 20
#: Output size bound per name: a demangling longer than this is refused (kept raw).
MAX_OUTPUT_LENGTH = 16384

_cache: dict[str, str] = {}
_problems: list[str] = []
_spent = 0.0
_tool: str | None | bool = False  # False: not looked for yet


def is_mangled(name: str) -> bool:
    """Itanium C++ / Rust legacy (``_Z``) and Rust v0 (``_R``) names."""
    return name.startswith(("_Z", "_R"))


def problems() -> list[str]:
    """Messages about demangling (tool missing, names kept raw by a bound), each once; then cleared."""
    out = list(_problems)
    _problems.clear()
    return out


def _say(message: str) -> None:
    if message not in _problems and len(_problems) < 100:
        _problems.append(message)


def demangle(name: str) -> str:
    """One name demangled (see :func:`demangle_all`)."""
    return demangle_all([name]).get(name, name)


def demangle_all(names: Iterable[str]) -> dict[str, str]:
    """``{name: demangled}`` for every name given; names that are not mangled, or fail, map to themselves."""
    wanted = {n for n in names if n}
    todo = sorted(n for n in wanted if n not in _cache)
    todo_mangled = [n for n in todo if is_mangled(n) and len(n) <= MAX_NAME_LENGTH and "\n" not in n]
    for n in todo:
        if not is_mangled(n):
            _cache[n] = n
        elif len(n) > MAX_NAME_LENGTH or "\n" in n:
            _cache[n] = n
            _say(f"demangling length limit: a name of {len(n)} bytes kept mangled "
                 f"(limit {MAX_NAME_LENGTH} bytes): {n[:80]!r}...")
    if todo_mangled:
        _run(todo_mangled)
    return {n: _cache.get(n, n) for n in wanted}


def _find_tool() -> str | None:
    global _tool
    if _tool is False:
        import shutil

        _tool = shutil.which("c++filt")
        if _tool is None:
            _say("c++filt (GNU binutils) not found: C++ and Rust names are shown mangled")
    return _tool  # type: ignore[return-value]


def _limits() -> None:  # pragma: no cover - runs in the child
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
    cpu = int(BATCH_TIMEOUT) + 1
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def _run(names: list[str]) -> None:
    """Demangle ``names`` into the cache; a failing batch is halved until the guilty names are alone."""
    global _spent
    tool = _find_tool()
    if tool is None:
        for n in names:
            _cache[n] = n
        return
    stack = [names]
    while stack:
        batch = stack.pop()
        if _spent >= TOTAL_BUDGET:
            for n in batch:
                _cache[n] = n
            _say(f"demangling time budget ({TOTAL_BUDGET:g} s per run) spent: {len(batch)} names kept mangled")
            continue
        timeout = min(BATCH_TIMEOUT, TOTAL_BUDGET - _spent)
        start = time.monotonic()
        out = _batch(tool, batch, timeout)
        _spent += time.monotonic() - start
        if out is not None:
            for n, d in zip(batch, out):
                _cache[n] = d if d and len(d) <= MAX_OUTPUT_LENGTH else n
        elif len(batch) > 1:
            half = len(batch) // 2
            stack.extend((batch[half:], batch[:half]))
        else:
            _cache[batch[0]] = batch[0]
            _say(f"demangling bound: name {batch[0][:80]!r}{'...' if len(batch[0]) > 80 else ''} "
                 f"({len(batch[0])} bytes) kept mangled: demangling it exceeded {timeout:.1f} s, "
                 f"{MEMORY_LIMIT >> 20} MB or {MAX_OUTPUT_LENGTH} bytes of output")


def _batch(tool: str, names: list[str], timeout: float) -> list[str] | None:
    """c++filt's output for ``names`` (one per line), or None if it failed or ran out of time, memory or output."""
    import selectors
    import subprocess

    data = ("\n".join(names) + "\n").encode("utf-8", "surrogateescape")
    cap = len(names) * MAX_OUTPUT_LENGTH
    deadline = time.monotonic() + timeout
    try:
        proc = subprocess.Popen([tool, "-i"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL, preexec_fn=_limits,
                                env={"PATH": os.environ.get("PATH", ""), "LC_ALL": "C"})
    except OSError:
        return None
    chunks: list[bytes] = []
    size = 0
    ok = False
    try:
        assert proc.stdin is not None and proc.stdout is not None
        os.set_blocking(proc.stdin.fileno(), False)
        sel = selectors.DefaultSelector()
        sel.register(proc.stdout, selectors.EVENT_READ)
        sel.register(proc.stdin, selectors.EVENT_WRITE)
        pending = memoryview(data)
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            events = sel.select(left)
            done = False
            for key, _ in events:
                if key.fileobj is proc.stdin:
                    try:
                        n = os.write(proc.stdin.fileno(), pending)
                    except BrokenPipeError:
                        n = len(pending)
                    pending = pending[n:]
                    if not pending:
                        sel.unregister(proc.stdin)
                        proc.stdin.close()
                else:
                    chunk = os.read(proc.stdout.fileno(), 65536)
                    if not chunk:
                        done = True
                        break
                    chunks.append(chunk)
                    size += len(chunk)
                    if size > cap:
                        done = True
                        break
            if done:
                ok = size <= cap
                break
        sel.close()
    finally:
        if proc.poll() is None:
            proc.kill()
        rc = proc.wait()
        for f in (proc.stdin, proc.stdout):
            if f is not None and not f.closed:
                f.close()
    if not ok or rc != 0:
        return None
    out = b"".join(chunks).decode("utf-8", "replace").split("\n")
    if len(out) < len(names):
        return None
    return out[: len(names)]
