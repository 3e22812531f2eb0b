#!/usr/bin/env python3
"""Side-by-side timing of CFI decoding on one file (default: libc.so.6).

Whole process, median of N runs (default 11), each command's stdout to /dev/null:

* ``readelf --debug-dump=frames-interp FILE``
* ``python -m dwarfunwind cfi FILE --json``
* pyelftools decoding every FDE (``e.get_decoded()`` for each EH_CFI entry;
  errors are caught per entry and counted)

and in-process: ``row_for(random address in .text)`` on the already-open file,
median/mean/p99 microseconds over K addresses (default 20000).

    python3 bench/bench_cfi.py [--file PATH] [--runs N] [--lookups K] [--seed S]
"""
from __future__ import annotations

import argparse
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PY = os.path.realpath(sys.executable)  # the real interpreter, not a pyenv shim

PYELFTOOLS_SCRIPT = r"""
import sys
from elftools.elf.elffile import ELFFile
ok = bad = 0
with open(sys.argv[1], 'rb') as f:
    ef = ELFFile(f)
    for e in ef.get_dwarf_info().EH_CFI_entries():
        try:
            e.get_decoded()
            ok += 1
        except Exception:
            bad += 1
sys.stderr.write(f"pyelftools: {ok} entries decoded, {bad} raised\n")
"""


def default_libc() -> str:
    for p in ("/lib/x86_64-linux-gnu/libc.so.6", "/usr/lib/x86_64-linux-gnu/libc.so.6", "/lib64/libc.so.6"):
        if os.path.exists(p):
            return p
    raise SystemExit("libc.so.6 not found; pass --file")


def time_cmd(cmd: list, runs: int, env=None) -> tuple:
    """Median/min wall seconds of running cmd `runs` times (one warm-up run first)."""
    times = []
    last_err = ""
    for i in range(runs + 1):
        t0 = time.perf_counter()
        p = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, cwd=REPO)
        dt = time.perf_counter() - t0
        last_err = p.stderr.decode("utf-8", "replace").strip()
        if i:
            times.append(dt)
        if p.returncode != 0 and i == 0:
            print(f"  note: {' '.join(cmd[:4])}... exited {p.returncode}: {last_err[:200]}", file=sys.stderr)
    return statistics.median(times), min(times), last_err


def open_library(path: str):
    sys.path.insert(0, REPO)
    import dwarfunwind
    opener = getattr(dwarfunwind, "open_elf", None)
    if opener is None:
        from dwarfunwind.elf.module import ElfFile
        opener = ElfFile.open
    return opener(path)


def text_range(path: str) -> tuple:
    from elftools.elf.elffile import ELFFile
    with open(path, "rb") as f:
        s = ELFFile(f).get_section_by_name(".text")
        return s["sh_addr"], s["sh_addr"] + s["sh_size"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--file", default=None)
    ap.add_argument("--runs", type=int, default=11)
    ap.add_argument("--lookups", type=int, default=20000)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    path = args.file or default_libc()

    readelf = shutil.which("readelf")
    rv = subprocess.run([readelf, "--version"], capture_output=True, text=True).stdout.splitlines()[0] \
        if readelf else "absent"
    print(f"machine: nproc={os.cpu_count()} {platform.machine()} {platform.platform()}")
    print(f"python:  {PY} {platform.python_version()} ({platform.python_implementation()})")
    print(f"readelf: {rv}")
    print(f"file:    {path} ({os.path.getsize(path)} bytes)")
    print(f"runs:    {args.runs} (median, after one warm-up run)\n")

    env = dict(os.environ)
    env["PYTHONPATH"] = REPO + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    rows = []
    if readelf:
        rows.append(("readelf --debug-dump=frames-interp",) + time_cmd([readelf, "--debug-dump=frames-interp", path],
                                                                      args.runs))
    rows.append(("python -m dwarfunwind cfi --json",) + time_cmd([PY, "-m", "dwarfunwind", "cfi", path, "--json"],
                                                                args.runs, env))
    rows.append(("pyelftools get_decoded() per entry",) + time_cmd([PY, "-c", PYELFTOOLS_SCRIPT, path],
                                                                  args.runs, env))
    rows.append(("python -c pass (interpreter start)",) + time_cmd([PY, "-c", "pass"], args.runs))
    base = rows[0][1]
    w = max(len(r[0]) for r in rows)
    print(f"{'command'.ljust(w)}  {'median s':>9}  {'min s':>9}  {'x readelf':>9}")
    for name, med, mn, _err in rows:
        print(f"{name.ljust(w)}  {med:9.3f}  {mn:9.3f}  {med / base:9.1f}")
    for _name, _m, _n, err in rows:
        if err and "pyelftools" in err:
            print(f"  ({err.splitlines()[-1]})")

    # in-process lookups
    t0 = time.perf_counter()
    elf = open_library(path)
    t_open = time.perf_counter() - t0
    lo, hi = text_range(path)
    rnd = random.Random(args.seed)
    addrs = [rnd.randrange(lo, hi) for _ in range(args.lookups)]
    pc = time.perf_counter_ns
    times = []
    found = 0
    t_all = time.perf_counter()
    for a in addrs:
        t = pc()
        r = elf.row_for(a)
        times.append(pc() - t)
        found += r is not None
    t_all = time.perf_counter() - t_all
    times.sort()
    us = [t / 1000 for t in times]
    print(f"\nin-process row_for(random address in .text {lo:#x}..{hi:#x}), {len(addrs)} lookups, seed {args.seed}:")
    print(f"  open: {t_open * 1e3:.1f} ms; rows found: {found}/{len(addrs)}; total {t_all:.2f} s")
    print(f"  per lookup: median {statistics.median(us):.1f} us, mean {statistics.fmean(us):.1f} us, "
          f"p99 {us[int(len(us) * 0.99)]:.1f} us, max {us[-1]:.1f} us")
    t0 = time.perf_counter()
    for a in addrs[:2000]:
        elf.row_for(a)
    print(f"  repeat of the first 2000 addresses (warm): "
          f"{(time.perf_counter() - t0) / 2000 * 1e6:.1f} us/lookup")
    return 0


if __name__ == "__main__":
    sys.exit(main())
