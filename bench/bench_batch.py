#!/usr/bin/env python3
"""``batch`` of many cores on 2 workers against one ``unwind`` process per core, run in turn.

The core is the corpus's ``c_threads`` (bench/make_cores.py: 4 threads, 24 frames), copied
N times (default 40) so that every run reads N separate files. Interleaved runs, whole
processes, stdout to /dev/null:

* ``python -m dwarfunwind batch CORE1..CORE40 --jobs 2 --json``
* 40 sequential ``python -m dwarfunwind unwind COREi --json`` (the sum is one measurement)

    python3 bench/bench_batch.py [--cores 40] [--jobs 2] [--runs 5]
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

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))


def env() -> dict:
    e = dict(os.environ)
    e["PYTHONPATH"] = str(REPO) + (os.pathsep + e["PYTHONPATH"] if e.get("PYTHONPATH") else "")
    return e


def main() -> int:
    import make_cores

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cores", type=int, default=40)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    exe, core = make_cores.c_threads()
    d = Path(tempfile.mkdtemp(prefix="dwarfunwind-bench-batch-"))
    cores = []
    for i in range(args.cores):
        p = d / f"c_threads.{i}.core"
        shutil.copyfile(core, p)
        cores.append(str(p))
    python = os.path.realpath(sys.executable)
    batch = [python, "-m", "dwarfunwind", "batch", *cores, "--jobs", str(args.jobs), "--json"]
    # The same documents either way (checked once).
    one = subprocess.run(batch, capture_output=True, text=True, env=env()).stdout.splitlines()
    alone = subprocess.run([python, "-m", "dwarfunwind", "unwind", cores[0], "--json"], capture_output=True,
                           text=True, env=env()).stdout.strip()
    assert one and one[0] == alone, "batch and unwind disagree"
    t_batch, t_seq = [], []
    for i in range(args.runs + 1):
        t0 = time.perf_counter()
        subprocess.run(batch, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env())
        tb = time.perf_counter() - t0
        t0 = time.perf_counter()
        for c in cores:
            subprocess.run([python, "-m", "dwarfunwind", "unwind", c, "--json"], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, env=env())
        ts = time.perf_counter() - t0
        if i:
            t_batch.append(tb)
            t_seq.append(ts)
    mb, ms = statistics.median(t_batch), statistics.median(t_seq)
    print(f"machine: {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}; python {sys.version.split()[0]}")
    print(f"{args.cores} cores of c_threads ({os.path.getsize(core) / 1e6:.1f} MB each), {args.runs} interleaved runs")
    print(f"batch --jobs {args.jobs}:        median {mb:.3f} s (min {min(t_batch):.3f}, max {max(t_batch):.3f})")
    print(f"{args.cores} x unwind, in turn: median {ms:.3f} s (min {min(t_seq):.3f}, max {max(t_seq):.3f})")
    print(f"ratio batch / sequential: {mb / ms:.2f}x (goal < 0.6x)")
    shutil.rmtree(d)
    return 0


if __name__ == "__main__":
    sys.exit(main())
