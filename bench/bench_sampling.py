#!/usr/bin/env python3
"""Warm per-sample cost of sampling a running process (the profiler's loop).

A small C program (built here with gcc) recurses to a varying depth and spins, with T idle
threads beside it. ``Program.from_pid(pid, stopped=False)`` is opened once; W warm-up samples,
then S timed samples, each exactly what ``prog.sample()`` does: ``target.stop()`` (seize and
stop every thread, read registers), ``prog.stack_traces()`` (walk every thread with CFI),
``target.resume()`` (detach: the process runs again). Reported: median (min..max) of each part
and of the walk per frame.

    python3 bench/bench_sampling.py [--samples S] [--warmup W] [--threads T]

The machine is shared: figures vary run to run; interleaved A/B timings and medians are reported.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import dwarfunwind  # noqa: E402

BUSY = r"""
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
volatile unsigned long sink;
__attribute__((noinline)) void leaf(unsigned long n) { for (unsigned long i = 0; i < n; i++) sink += i; }
__attribute__((noinline)) void descend(int depth, unsigned long n) {
    if (depth > 0) descend(depth - 1, n); else leaf(n);
    sink++;
}
static void *idle(void *a) { for (;;) pause(); return a; }
int main(int argc, char **argv) {
    int threads = argc > 1 ? atoi(argv[1]) : 0;
    for (int i = 0; i < threads; i++) { pthread_t t; pthread_create(&t, 0, idle, 0); }
    printf("ready\n"); fflush(stdout);
    for (unsigned long k = 0;; k++) descend((int)(k % 20), 20000);
}
"""


def stats(values: list[float]) -> str:
    return f"{statistics.median(values):8.1f} ({min(values):.1f}..{max(values):.1f})"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=200)
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--threads", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        src, exe = Path(d) / "busy.c", Path(d) / "busy"
        src.write_text(BUSY)
        subprocess.run(["gcc", "-O2", "-g", "-pthread", "-o", str(exe), str(src)], check=True)
        p = subprocess.Popen([str(exe), str(args.threads)], stdout=subprocess.PIPE)
        assert p.stdout is not None and p.stdout.readline().strip() == b"ready"
        try:
            print(f"machine: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}, load {os.getloadavg()}")
            with dwarfunwind.Program.from_pid(p.pid, stopped=False) as prog:
                for _ in range(args.warmup):
                    prog.sample()
                stop_us, walk_us, resume_us, frames = [], [], [], []
                target = prog.target
                for _ in range(args.samples):
                    # prog.sample() is exactly stop(); stack_traces(); resume(): timed part by part.
                    t0 = time.perf_counter()
                    target.stop()  # type: ignore[attr-defined]
                    t1 = time.perf_counter()
                    traces = prog.stack_traces()
                    t2 = time.perf_counter()
                    target.resume()  # type: ignore[attr-defined]
                    t3 = time.perf_counter()
                    stop_us.append((t1 - t0) * 1e6)
                    walk_us.append((t2 - t1) * 1e6)
                    resume_us.append((t3 - t2) * 1e6)
                    frames.append(sum(len(t.frames) for t in traces))
            per_frame = [w / f for w, f in zip(walk_us, frames) if f]
            total = [a + b + c for a, b, c in zip(stop_us, walk_us, resume_us)]
            print(f"{args.samples} samples of {args.threads + 1} threads, "
                  f"{statistics.median(frames):.0f} frames per sample (median); median (min..max)")
            print(f"  whole sample    us {stats(total)}")
            print(f"  stop (seize)    us {stats(stop_us)}")
            print(f"  walk            us {stats(walk_us)}")
            print(f"  resume (detach) us {stats(resume_us)}")
            print(f"  walk per frame  us {stats(per_frame)}")
        finally:
            p.kill()
            p.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
