#!/usr/bin/env python3
"""perf.data unwinding: ``dwarfunwind perf`` against ``perf script --no-inline`` on the same file.

Builds a C program (-O2 -fomit-frame-pointer, a 21-level recursion under main: ~25 frames per
sample), records it with ``perf record -e cpu-clock:u --call-graph dwarf -F 999`` for about a
second of its CPU time (~1,000 samples), then times, interleaved, whole processes with stdout to /dev/null:

* ``perf script -i FILE --no-inline`` (perf unwinds every sample with libdw)
* ``python -m dwarfunwind perf FILE`` (text, the same shape), ``--folded`` and ``--json``

and in-process, warm: samples/s and µs/frame of :class:`PerfUnwinder` over the whole file, with
the suffix memo (perf/memo.py) and without it (every frame stepped).
Timing is bench/runner.py's: this venv's python, interleaved rounds, median wall and CPU time,
peak RSS; ``--baseline REV`` adds the package as it was at git revision REV.
``--decode`` also compares decoding every SAMPLE record with construct against the reader's
precompiled ``struct`` path (the reason the reader uses struct).

    python bench/bench_perf.py [--runs 7] [--seconds 1.0] [--baseline REV] [--decode]
    python bench/bench_perf.py --seconds 10 --runs 3     # ~10,000 samples: throughput
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from runner import PY, Command, export_revision, interleave, interpreter_setup, machine, python_env, table  # noqa: E402


def warm(path: str, repeats: int = 3, memo: bool = True) -> tuple[int, int, float]:
    """(samples, frames, best seconds) of unwinding every sample in-process (imports done, files cached)."""
    from dwarfunwind.perf.reader import PerfData
    from dwarfunwind.perf.session import PerfUnwinder

    best = float("inf")
    samples = frames = 0
    for _ in range(repeats):
        with PerfData.open(path) as data:
            pu = PerfUnwinder(data, memo=memo)
            t0 = time.perf_counter()
            samples = frames = 0
            for u in pu.samples():
                samples += 1
                frames += len(u.trace.frames)
            best = min(best, time.perf_counter() - t0)
            pu.close()
    return samples, frames, best


def decode_bench(path: str) -> None:
    """Every SAMPLE record decoded by construct vs by the reader's struct code."""
    import construct as c

    from dwarfunwind.perf.reader import RECORD_SAMPLE, PerfData

    with PerfData.open(path) as data:
        attr = data.attrs[0]
        offsets = []
        pos = data._data_start
        import struct

        while pos + 8 <= data._data_end:
            type_, _misc, size = struct.unpack_from("<IHH", data.data, pos)
            if type_ == RECORD_SAMPLE:
                offsets.append((pos, size))
            pos += size
        nregs = len(attr.regs_user_dwarf)
        # The layout of this file's samples (IP|TID|TIME|ADDR|CALLCHAIN|PERIOD|REGS_USER|STACK_USER|...).
        fields = [c.Padding(8), "ip" / c.Int64ul, "pid" / c.Int32ul, "tid" / c.Int32ul, "time" / c.Int64ul,
                  "addr" / c.Int64ul, "period" / c.Int64ul, "nr" / c.Int64ul, "callchain" / c.Array(c.this.nr,
                                                                                                      c.Int64ul),
                  "abi" / c.Int64ul, "regs" / c.Array(nregs, c.Int64ul), "size" / c.Int64ul,
                  "stack" / c.Bytes(c.this.size), "dyn_size" / c.Int64ul]
        st = c.Struct(*fields).compile()
        raw = [bytes(data.data[p : p + s]) for p, s in offsets]
        t0 = time.perf_counter()
        for b in raw:
            st.parse(b)
        t_construct = time.perf_counter() - t0
        t0 = time.perf_counter()
        for p, s in offsets:
            data.decode(p, RECORD_SAMPLE, 0, s)
        t_struct = time.perf_counter() - t0
    n = len(offsets)
    print(f"\ndecode {n} SAMPLE records: construct (compiled) {t_construct / n * 1e6:.1f} us each, "
          f"struct {t_struct / n * 1e6:.1f} us each ({t_construct / t_struct:.1f}x)")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--seconds", type=float, default=1.0, help="how long the profiled program runs (1.0)")
    ap.add_argument("--baseline", metavar="REV", help="add dwarfunwind as it was at this git revision")
    ap.add_argument("--decode", action="store_true", help="also compare construct and struct decoding")
    ap.add_argument("--keep", type=Path, help="keep the program and perf.data in this directory")
    args = ap.parse_args()
    d = args.keep or Path(tempfile.mkdtemp(prefix="dwarfunwind-bench-perf-"))
    d.mkdir(parents=True, exist_ok=True)
    # A 21-level recursion under main: ~25 frames a sample.
    subprocess.run(["gcc", "-O2", "-g", "-fomit-frame-pointer", "-DDEPTH=21", "-DWORK=200000", "-o", str(d / "prof"),
                    str(REPO / "corpora" / "perf_recursion.c")], check=True)
    data = d / "prof.data"
    subprocess.run(["perf", "record", "-q", "-F", "999", "-e", "cpu-clock:u", "--call-graph", "dwarf", "-o",
                    str(data), "--", str(d / "prof"), str(args.seconds)], check=True)
    subprocess.run([PY, "-m", "compileall", "-q", "dwarfunwind"], cwd=REPO, check=True)
    print(machine())
    print(interpreter_setup())
    print(subprocess.run(["perf", "--version"], capture_output=True, text=True).stdout.strip())
    samples, frames, best = warm(str(data))
    _, _, stepped = warm(str(data), memo=False)
    print(f"file: {data.stat().st_size / 1e6:.1f} MB, {samples} samples, {frames} frames "
          f"({frames / max(samples, 1):.1f} per sample)\n")
    env = python_env(str(REPO))
    perf_script = Command("perf script --no-inline", ["perf", "script", "-i", str(data), "--no-inline"])
    commands = [perf_script,
                Command("python -m dwarfunwind perf", [PY, "-m", "dwarfunwind", "perf", str(data)], env, cwd=str(REPO)),
                Command("python -m dwarfunwind perf --folded", [PY, "-m", "dwarfunwind", "perf", str(data), "--folded"],
                        env, cwd=str(REPO)),
                Command("python -m dwarfunwind perf --json", [PY, "-m", "dwarfunwind", "perf", str(data), "--json"],
                        env, cwd=str(REPO))]
    if args.baseline:
        tree = export_revision(str(REPO), args.baseline)
        commands.append(Command(f"  same, at {args.baseline}", [PY, "-m", "dwarfunwind", "perf", str(data)],
                                python_env(tree), cwd=tree))
        commands.append(Command(f"  --json, at {args.baseline}", [PY, "-m", "dwarfunwind", "perf", str(data), "--json"],
                                python_env(tree), cwd=tree))
    commands += [Command("  python -c pass", [PY, "-c", "pass"], env),
                 Command("  python -c 'import dwarfunwind.perf.session'",
                         [PY, "-c", "import dwarfunwind.perf.session, dwarfunwind.perf.output"], env, cwd=str(REPO))]
    interleave(commands, args.runs)
    print("\n".join(table(commands, perf_script, "perf script")))
    print(f"\nin-process, warm (best of 3): {samples / best:,.0f} samples/s, {best / max(frames, 1) * 1e6:.2f} us/frame"
          f" ({best / max(samples, 1) * 1e6:.1f} us/sample); every frame stepped (no memo): "
          f"{stepped / max(frames, 1) * 1e6:.2f} us/frame")
    print(f"perf script: {perf_script.median / max(samples, 1) * 1e6:.1f} us/sample, "
          f"{perf_script.median / max(frames, 1) * 1e6:.2f} us/frame whole process (median wall)")
    if args.decode:
        decode_bench(str(data))
    return 0


if __name__ == "__main__":
    sys.exit(main())
