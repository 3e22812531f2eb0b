#!/usr/bin/env python3
"""Start-up cost of the command line: own imports from ``python -X importtime``, and whole-process time.

    python3 bench/bench_startup.py [--runs 21] [--file ELF] [--baseline DIR]

"Own imports" is everything ``-m dwarfunwind`` imports after the interpreter's
``runpy`` (the package, its modules and the stdlib modules they pull in),
summed from the top-level rows of ``-X importtime``. Measured on:

  cfi FILE --json       the common path (fast parser, no argparse)
  cfi FILE --js         the same run through argparse (an abbreviation sends it there)
  cfi FILE --address A  one row: a run that is nearly all start-up
  unwind CORE           only with --core CORE

``--baseline DIR`` runs the same commands against another checkout (e.g. an
export of main) with A and B interleaved (A B A B ...), because this machine's
load drifts. Each tree is byte-compiled first and PYTHONDONTWRITEBYTECODE is
unset, so that .pyc files are used. Medians with min and max, in milliseconds.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ROW = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)")


def own_imports(stderr: str) -> tuple[float, dict[str, int]]:
    """(ms of own imports, cumulative µs by top-level module) from -X importtime output."""
    rows = [(int(m[2]), len(m[3]), m[4]) for m in map(ROW.match, stderr.splitlines()) if m]
    start = max(i for i, (_, indent, name) in enumerate(rows) if name == "runpy" and indent == 1)
    tops = {name: cum for cum, indent, name in rows[start + 1:] if indent == 1}
    return sum(tops.values()) / 1000, tops


def cpu_ms(cmd: list[str], env: dict[str, str], cwd: Path) -> float:
    """User + system CPU time of a whole process (less disturbed by other jobs than wall time)."""
    proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, _, usage = os.wait4(proc.pid, 0)
    proc.returncode = 0  # reaped here
    return (usage.ru_utime + usage.ru_stime) * 1000


def run_once(python: str, tree: Path, args: list[str]) -> tuple[float, float, dict[str, int]]:
    env = dict(os.environ, PYTHONPATH=str(tree))
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    # cwd=tree: -m puts the current directory first on sys.path, before PYTHONPATH.
    r = subprocess.run([python, "-X", "importtime", "-m", "dwarfunwind", *args], env=env, cwd=tree,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    own, tops = own_imports(r.stderr)
    return own, cpu_ms([python, "-m", "dwarfunwind", *args], env, tree), tops


def fmt(values: list[float]) -> str:
    return f"{statistics.median(values):6.1f} ({min(values):.1f}-{max(values):.1f})"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", type=int, default=21)
    p.add_argument("--file", default="/lib/x86_64-linux-gnu/libc.so.6")
    p.add_argument("--address", default="0x29d90", help="for cfi --address: a run that is nearly all start-up")
    p.add_argument("--core", help="also measure unwind CORE")
    p.add_argument("--baseline", type=Path, help="another checkout to compare with (interleaved)")
    a = p.parse_args()
    # The interpreter running this script, as invoked: a venv's python (a symlink that keeps the venv's
    # plain site set-up), not resolved to the base interpreter and not a pyenv shim script.
    python = sys.executable
    trees = {"this tree": ROOT}
    if a.baseline:
        trees["baseline"] = a.baseline.resolve()
    for tree in trees.values():
        subprocess.run([python, "-m", "compileall", "-q", str(tree / "dwarfunwind")], check=True)
    cases = {"cfi FILE --json": ["cfi", a.file, "--json"], "cfi FILE --js (argparse)": ["cfi", a.file, "--js"],
             "cfi FILE --address A": ["cfi", a.file, "--address", a.address]}
    if a.core:
        cases["unwind CORE"] = ["unwind", a.core]
    print(f"python {python} ({sys.version.split()[0]}), nproc {os.cpu_count()}, "
          f"load {os.getloadavg()[0]:.2f}, {a.runs} runs interleaved")
    last: dict[tuple[str, str], dict[str, int]] = {}
    results: dict[tuple[str, str], tuple[list[float], list[float]]] = {}
    for _ in range(a.runs):
        for case, args in cases.items():
            for label, tree in trees.items():
                own, wall, tops = run_once(python, tree, args)
                o, w = results.setdefault((case, label), ([], []))
                o.append(own)
                w.append(wall)
                last[(case, label)] = tops
    base = [cpu_ms([python, "-c", "pass"], dict(os.environ), ROOT) for _ in range(a.runs)]
    print(f"{'case':<26} {'tree':<10} {'own imports ms, median (min-max)':<34} whole process CPU ms (user+sys)")
    for (case, label), (own, cpu) in results.items():
        print(f"{case:<26} {label:<10} {fmt(own):<34} {fmt(cpu)}")
    print(f"{'python -c pass':<26} {'':<10} {'':<34} {fmt(base)}")
    for (case, label), tops in last.items():
        heavy = ", ".join(f"{k} {v / 1000:.1f}" for k, v in sorted(tops.items(), key=lambda kv: -kv[1])[:6])
        print(f"  last run, {case}, {label}: {heavy}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
