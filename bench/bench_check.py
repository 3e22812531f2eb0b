#!/usr/bin/env python3
"""Side-by-side timing of ``check`` on one file (default: libc.so.6) against objdump.

Whole process, interleaved (objdump, check, objdump, check, ...), median/min/max of N runs
(default 7) after one warm-up each, stdout to /dev/null:

* ``objdump -d --no-show-raw-insn FILE``
* ``python -m dwarfunwind check FILE`` (the real interpreter, not a pyenv shim)

Then, in-process, where one check's time goes: opening the file and its tables, decoding
rows (the cfi/ interpreter), decoding instructions (iced-x86), and the abstract
interpretation, and instructions per second.

    python3 bench/bench_check.py [--file PATH] [--runs N]
"""
from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PY = sys.executable  # the venv interpreter (not realpath: that would leave the venv and its iced-x86)


def default_libc() -> str:
    for p in ("/lib/x86_64-linux-gnu/libc.so.6", "/usr/lib/x86_64-linux-gnu/libc.so.6", "/lib64/libc.so.6"):
        if os.path.exists(p):
            return p
    raise SystemExit("libc.so.6 not found; pass --file")


def run_once(cmd: list[str]) -> float:
    env = dict(os.environ, PYTHONPATH=REPO)
    t0 = time.perf_counter()
    p = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, cwd=REPO)
    dt = time.perf_counter() - t0
    if p.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(cmd)} failed ({p.returncode}): {p.stderr.decode()[:400]}")
    return dt


def split(path: str) -> dict[str, float]:
    """Seconds spent in each stage of one in-process check."""
    sys.path.insert(0, REPO)
    from dwarfunwind.cfi.program import row_table
    from dwarfunwind.check import FileChecker
    from dwarfunwind.check.decode import decode_range

    t0 = time.perf_counter()
    fc = FileChecker(path)
    t1 = time.perf_counter()
    tables = []
    for fde in fc.fdes:
        try:
            tables.append((fde, row_table(fde)))
        except Exception:
            continue
    t2 = time.perf_counter()
    n = 0
    for fde, _ in tables:
        data = fc.code.upto(fde.pc_begin, fde.pc_range + 15)
        if data is not None and fde.pc_range:
            n += sum(1 for ins in decode_range(data, fde.pc_begin) if ins.ip < fde.pc_end)
    t3 = time.perf_counter()
    for fde, table in tables:
        fc.check_fde(fde, table)
    t4 = time.perf_counter()
    # check_fde decodes again: analysis alone is its time minus the decoding measured above.
    return {"open": t1 - t0, "rows": t2 - t1, "decode": t3 - t2, "analysis": (t4 - t3) - (t3 - t2),
            "instructions": float(n)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--file", default=None)
    ap.add_argument("--runs", type=int, default=7)
    args = ap.parse_args()
    path = args.file or default_libc()
    objdump = shutil.which("objdump")
    if objdump is None:
        raise SystemExit("objdump not found (binutils)")
    print(f"machine: {os.cpu_count()} cpus, load {os.getloadavg()[0]:.1f}, Python {platform.python_version()} "
          f"({PY}), {subprocess.run([objdump, '--version'], capture_output=True, text=True).stdout.splitlines()[0]}")
    print(f"file: {path} ({os.path.getsize(path)} bytes)")
    cmds = {"objdump -d --no-show-raw-insn": [objdump, "-d", "--no-show-raw-insn", path],
            "python -m dwarfunwind check": [PY, "-m", "dwarfunwind", "check", path]}
    times: dict[str, list[float]] = {k: [] for k in cmds}
    for cmd in cmds.values():
        run_once(cmd)  # warm the page cache and the interpreter's .pyc files
    for _ in range(args.runs):
        for k, cmd in cmds.items():  # interleaved, so load changes hit both alike
            times[k].append(run_once(cmd))
    base = statistics.median(times["objdump -d --no-show-raw-insn"])
    print(f"\n{'command':34} {'median':>8} {'min':>8} {'max':>8}  ratio")
    for k, ts in times.items():
        med = statistics.median(ts)
        print(f"{k:34} {med:8.3f} {min(ts):8.3f} {max(ts):8.3f}  {med / base:5.2f}x")
    s = split(path)
    total = s["open"] + s["rows"] + s["decode"] + s["analysis"]
    n = s["instructions"]
    print(f"\nin-process split ({int(n)} instructions, {n / total / 1e3:.0f} k instructions/s overall):")
    for k in ("open", "rows", "decode", "analysis"):
        print(f"  {k:9} {s[k]:6.3f} s  {100 * s[k] / total:4.0f} %")
    print(f"  decoding alone: {n / s['decode'] / 1e6:.2f} M instructions/s; "
          f"analysis: {n / s['analysis'] / 1e3:.0f} k instructions/s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
