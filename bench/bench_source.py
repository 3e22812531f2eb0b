#!/usr/bin/env python3
"""``unwind --source`` (file:line and inline frames) against gdb's ``bt`` and ``eu-stack -s -i``.

Core: ``c_threads`` from the corpus (bench/make_cores.py; main + 3 threads, 24 physical frames,
libc's lines from its separate debug file), or any ``--core CORE --exe EXE``.

Whole processes, interleaved round by round (one warm-up round first), stdout to /dev/null;
medians with min and max, and ratios of medians:

* ``gdb -batch -nx -ex 'thread apply all bt' EXE CORE`` (prints file:line and inline frames by default)
* ``eu-stack -s -i --core CORE -e EXE -n 0``
* ``python -m dwarfunwind unwind CORE --exe EXE --source``, cold (``DWARFUNWIND_NO_CACHE=1``: every
  SymCache built from DWARF) and warm (SymCaches reopened from a cache directory primed before)
* ``python -m dwarfunwind unwind CORE --exe EXE`` (no source), for what the walk alone costs

    python3 bench/bench_source.py [--runs N] [--core CORE --exe EXE]
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
# The interpreter running this script as invoked (a venv's, which has symbolic), not a pyenv shim.
PY = sys.executable
sys.path.insert(0, str(HERE))


def env_with(**extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "DEBUGINFOD_URLS")}
    env["PYTHONPATH"] = str(REPO)
    env.update(extra)
    return env


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=11)
    ap.add_argument("--core")
    ap.add_argument("--exe")
    args = ap.parse_args()
    if args.core:
        core, exe = Path(args.core), Path(args.exe) if args.exe else None
    else:
        import make_cores

        exe, core = make_cores.c_threads()
    subprocess.run([PY, "-m", "compileall", "-q", str(REPO / "dwarfunwind")], check=False)
    cache = tempfile.mkdtemp(prefix="dwarfunwind-symcache-")
    ours = [PY, "-m", "dwarfunwind", "unwind", str(core)] + (["--exe", str(exe)] if exe else [])
    rows: list[tuple[str, list[str], dict | None]] = []
    if shutil.which("gdb"):
        rows.append(("gdb thread apply all bt", ["gdb", "-batch", "-nx", "-ex", "thread apply all bt",
                                                 str(exe or ""), str(core)], None))
    if shutil.which("eu-stack"):
        rows.append(("eu-stack -s -i -n 0", ["eu-stack", "-s", "-i", "-n", "0", "--core", str(core)]
                     + (["-e", str(exe)] if exe else []), None))
    rows.append(("dwarfunwind --source, cold", ours + ["--source"], env_with(DWARFUNWIND_NO_CACHE="1")))
    rows.append(("dwarfunwind --source, warm", ours + ["--source"], env_with(XDG_CACHE_HOME=cache)))
    rows.append(("dwarfunwind (no source)", ours, env_with()))
    times: dict[str, list[float]] = {name: [] for name, _, _ in rows}
    try:
        for i in range(args.runs + 1):  # round 0 warms the page cache and primes the SymCache directory
            for name, cmd, env in rows:
                t0 = time.perf_counter()
                p = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
                if p.returncode not in (0, 1) or b"Traceback" in p.stderr or b"symbolic" in p.stderr:
                    sys.exit(f"{name} failed ({p.returncode}): {p.stderr.decode(errors='replace')[-400:]}")
                if i:
                    times[name].append(time.perf_counter() - t0)
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    med = {n: statistics.median(t) for n, t in times.items()}
    gdb = med.get("gdb thread apply all bt")
    eu = med.get("eu-stack -s -i -n 0")
    print(f"core {core}  ({args.runs} interleaved rounds; load average {os.getloadavg()[0]:.2f})")
    print(f"{'command':<30} {'median s':>9} {'min s':>8} {'max s':>8} {'/ gdb':>7} {'/ eu-stack':>10}")
    for name, t in times.items():
        m = med[name]
        print(f"{name:<30} {m:9.3f} {min(t):8.3f} {max(t):8.3f} "
              f"{m / gdb if gdb else float('nan'):7.2f} {m / eu if eu else float('nan'):10.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
