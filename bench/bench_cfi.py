#!/usr/bin/env python3
"""Side-by-side timing and peak memory of CFI decoding (default: libc.so.6, and the largest library).

Whole processes, interleaved (readelf, ours, pyelftools, ... then again, N rounds after one
untimed warm-up round), each command's output to /dev/null; the median, min and max wall
time, the median CPU time (user+sys: steadier than wall time on a loaded machine) and the
median peak RSS of each command:

* ``readelf --debug-dump=frames-interp FILE``
* ``python -m dwarfunwind cfi FILE --json`` (the real interpreter, bytecode precompiled,
  DWARFUNWIND_NO_CACHE=1), and with ``--baseline REV`` the same from git revision REV
* pyelftools decoding every FDE (``e.get_decoded()`` of each EH_CFI entry; per-entry
  errors are caught and counted)
* ``python -c pass``: the interpreter's own start-up

then in-process: ``row_for(random address in .text)`` on the already-open file.

    python bench/bench_cfi.py [--file PATH ...] [--runs N] [--baseline REV] [--largest] [--json-out F]

``--largest`` adds the largest library on the machine (libLLVM if present, else the file
with the largest .eh_frame under /usr/lib) for the memory goal, with fewer rounds.
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)

from runner import PY, Command, export_revision, interleave, interpreter_setup, machine, python_env, table  # noqa: E402

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


def largest_library() -> str:
    """libLLVM (the largest of them) if present, else the file with the largest .eh_frame under /usr/lib."""
    llvm = [p for p in glob.glob("/usr/lib/x86_64-linux-gnu/libLLVM*.so*") if not os.path.islink(p)]
    if llvm:
        return max(llvm, key=os.path.getsize)
    sys.path.insert(0, REPO)
    from dwarfunwind.elf.reader import ELFReader

    best, size = "", -1
    for path in glob.glob("/usr/lib/x86_64-linux-gnu/*.so*"):
        try:
            sec = ELFReader.open(path).section(".eh_frame")
        except Exception:
            continue
        if sec is not None and sec.size > size:
            best, size = path, sec.size
    return best


def commands(path: str, baseline: str | None, pyelftools: bool) -> list[Command]:
    readelf = shutil.which("readelf")
    out = []
    if readelf:
        out.append(Command("readelf --debug-dump=frames-interp", [readelf, "--debug-dump=frames-interp", path]))
    ours = [PY, "-m", "dwarfunwind", "cfi", path, "--json"]
    out.append(Command("python -m dwarfunwind cfi --json", ours, python_env(REPO), cwd=REPO))
    if baseline:
        out.append(Command(f"  same, at {baseline[1]}", ours, python_env(baseline[0]), cwd=baseline[0]))
    if pyelftools:
        out.append(Command("pyelftools get_decoded() per entry", [PY, "-c", PYELFTOOLS_SCRIPT, path],
                           python_env(REPO)))
    out.append(Command("python -c pass (start-up)", [PY, "-c", "pass"], python_env(REPO)))
    return out


def lookups(path: str, n: int, seed: int) -> dict:
    sys.path.insert(0, REPO)
    from dwarfunwind.elf.module import ElfFile

    t0 = time.perf_counter()
    elf = ElfFile.open(path)
    t_open = time.perf_counter() - t0
    text = elf.reader.section(".text")
    lo, hi = text.addr, text.addr + text.size
    rnd = random.Random(seed)
    addrs = [rnd.randrange(lo, hi) for _ in range(n)]
    ns = time.perf_counter_ns
    times = []
    for a in addrs:
        t = ns()
        elf.row_for(a)
        times.append(ns() - t)
    times.sort()
    us = [t / 1000 for t in times]
    return {"open_ms": t_open * 1e3, "median_us": statistics.median(us), "p99_us": us[int(len(us) * 0.99)],
            "max_us": us[-1], "lookups": n}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--file", action="append", help="a file to decode (repeatable; default libc.so.6)")
    ap.add_argument("--largest", action="store_true", help="also the largest library on the machine")
    ap.add_argument("--runs", type=int, default=11, help="interleaved rounds (11)")
    ap.add_argument("--large-runs", type=int, default=3, help="rounds for the largest library (3)")
    ap.add_argument("--baseline", metavar="REV", help="add ours at this git revision (before/after)")
    ap.add_argument("--lookups", type=int, default=20000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--json-out", help="write the figures here (for bench/speed_table.py)")
    args = ap.parse_args()
    files = args.file or [default_libc()]

    subprocess.run([PY, "-m", "compileall", "-q", "dwarfunwind"], cwd=REPO, check=True)
    baseline = (export_revision(REPO, args.baseline), args.baseline) if args.baseline else None
    readelf = shutil.which("readelf")
    print(f"machine:     {machine()}")
    print(f"interpreter: {interpreter_setup()}")
    print("readelf:     " + (subprocess.run([readelf, "--version"], capture_output=True, text=True)
                             .stdout.splitlines()[0] if readelf else "absent"))
    results: dict = {"machine": machine(), "interpreter": interpreter_setup(), "files": {}}
    todo = [(f, args.runs, True) for f in files]
    if args.largest:
        todo.append((largest_library(), args.large_runs, False))
    for path, runs, pyelftools in todo:
        print(f"\n== {path} ({os.path.getsize(path) / 1e6:.1f} MB), {runs} interleaved rounds")
        cmds = interleave(commands(path, baseline, pyelftools), runs, cwd=REPO)
        print("\n".join(table(cmds, cmds[0] if readelf else None, "readelf")))
        results["files"][path] = {c.name.strip(): {"median": c.median, "min": min(c.times), "max": max(c.times),
                                                   "cpu": c.cpu_median, "rss_mb": c.rss_mb, "runs": runs}
                                  for c in cmds}
    look = lookups(files[0], args.lookups, args.seed)
    results["lookups"] = look
    print(f"\nin-process row_for(random address in .text of {files[0]}), {look['lookups']} lookups: "
          f"open {look['open_ms']:.1f} ms; median {look['median_us']:.1f} us, p99 {look['p99_us']:.1f} us, "
          f"max {look['max_us']:.1f} us")
    if args.json_out:
        with open(args.json_out, "w") as f:
            json.dump(results, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
