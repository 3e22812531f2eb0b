#!/usr/bin/env python3
"""Side-by-side timing of whole-core backtraces: gdb, eu-stack, (drgn), dwarfunwind.

Two cores (built by bench/make_cores.py, reused when present):

1. ``c_threads`` (corpus): dynamically linked C, main + 3 parked threads, 24 frames.
2. ``python3`` aborting at the bottom of a ``sum(map(f, ...))`` recursion, ~1,500 native frames.

Whole processes, interleaved (gdb, eu-stack, ours, ... then again: N rounds, default 11, after one
untimed warm-up round), stdout to /dev/null; median, min and max wall time, median CPU time and
median peak RSS of each (bench/runner.py):

* ``gdb -batch -nx -ex 'thread apply all bt' EXE CORE``
  (core 2 adds ``-ex 'set backtrace past-main on'`` so that gdb walks as far as the others)
* ``eu-stack --core CORE -e EXE -n 0``
* ``python -m dwarfunwind unwind CORE --exe EXE`` (core 2: ``-n 5000``), the real interpreter
  (this venv's python, or the real binary behind a shim: runner.PY), package byte-compiled first,
  PYTHONDONTWRITEBYTECODE unset,
  DWARFUNWIND_NO_CACHE=1; with ``--baseline REV`` the same from git revision REV
* with ``--drgn PYTHON`` (an interpreter with drgn installed): drgn's ``prog.stack_trace()``
  of every thread (drgn stops a trace at 1024 frames)
* for reference: ours again with ``python -S`` (no site import), ``python -c pass``, ``python -S -c pass``
  and ``python -c 'import dwarfunwind.cli, dwarfunwind.program'`` (start-up + our imports)

Then in-process (as a profiler uses the library), in a child process per tree (ours, and the
baseline's), interleaved, 3 rounds each: ``Program.from_core`` once, one walk of the crashed
thread to warm the caches, then R repeated ``p.unwinder.unwind_thread(thread)``, each timed in
CPU time (``time.process_time_ns``: on a loaded machine wall time mostly measures the run
queue); the median microseconds per frame (the round with the median of the rounds' medians).

``--profile``: cProfile of one run of each of the above (our two CLI runs, whole process;
the warm walks in-process), top functions by cumulative and by own time, % of the total.

    python bench/bench_unwind.py [--runs N] [--repeats R] [--depth D] [--out DIR] [--baseline REV]
                                 [--drgn PYTHON] [--profile] [--top K] [--json-out F]
"""
from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(REPO))

import make_cores  # noqa: E402
from runner import PY, Command, export_revision, interleave, interpreter_setup, machine, python_env, table  # noqa: E402

MAX_FRAMES = 5000

GDB_COUNT = r"""
import gdb
n = 0
for t in gdb.selected_inferior().threads():
    t.switch()
    f = gdb.newest_frame()
    while f is not None:
        if f.type() not in (gdb.INLINE_FRAME, gdb.TAILCALL_FRAME):
            n += 1
        f = f.older()
print("PHYSICAL_FRAMES", n)
"""

DRGN_SCRIPT = r"""
import sys, drgn
core, exe = sys.argv[1], sys.argv[2]
prog = drgn.Program()
prog.set_core_dump(core)
try:
    prog.load_debug_info([exe], default=True)
except drgn.MissingDebugInfoError:
    pass
out, n = [], 0
for t in prog.threads():
    tr = prog.stack_trace(t.tid)
    out.append(f"thread {t.tid}\n{tr}")
    n += sum(1 for f in tr if not f.is_inline)
sys.stdout.write("\n".join(out) + "\n")
sys.stderr.write(f"PHYSICAL_FRAMES {n}\n")
"""


def clean_env() -> dict:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPATH"] = str(REPO) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def tool_version(cmd: list) -> str:
    try:
        return subprocess.run(cmd, capture_output=True, text=True).stdout.splitlines()[0].strip()
    except (OSError, IndexError):
        return "absent"


# -- frame counts (not timed) ------------------------------------------------------------------------

def count_eu_stack(exe, core) -> int | None:
    if not shutil.which("eu-stack"):
        return None
    out = subprocess.run(["eu-stack", "--core", str(core), "-e", str(exe), "-n", "0"],
                         capture_output=True, text=True).stdout
    return sum(1 for line in out.splitlines() if re.match(r"#\d+\s", line))


def count_gdb(exe, core) -> int | None:
    """gdb's physical frames (inline and synthesized tail-call frames left out), past main, every thread."""
    if not shutil.which("gdb"):
        return None
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as f:
        f.write(GDB_COUNT)
    try:
        out = subprocess.run(["gdb", "-batch", "-nx", "-ex", "set backtrace past-main on",
                              "-ex", "set backtrace past-entry on", "-ex", f"source {f.name}", str(exe), str(core)],
                             capture_output=True, text=True).stdout
    finally:
        os.unlink(f.name)
    m = re.search(r"PHYSICAL_FRAMES (\d+)", out)
    return int(m.group(1)) if m else None


def count_ours(exe, core, max_frames: int) -> tuple[int, list]:
    out = subprocess.run([PY, "-m", "dwarfunwind", "unwind", str(core), "--exe", str(exe), "--json",
                          "-n", str(max_frames)], capture_output=True, text=True, env=clean_env(), cwd=REPO).stdout
    doc = json.loads(out)
    return sum(len(t["frames"]) for t in doc["threads"]), [len(t["frames"]) for t in doc["threads"]]


def count_drgn(drgn_py, exe, core) -> int | None:
    p = subprocess.run([drgn_py, "-c", DRGN_SCRIPT, str(core), str(exe)], capture_output=True, text=True)
    m = re.search(r"PHYSICAL_FRAMES (\d+)", p.stderr)
    return int(m.group(1)) if m else None


# -- whole process -------------------------------------------------------------------------------------

def scenario(title: str, exe, core, args, *, past_main: bool, max_frames: int | None) -> list[Command]:
    env = python_env(str(REPO))
    ours = [PY, "-m", "dwarfunwind", "unwind", str(core), "--exe", str(exe)]
    if max_frames is not None:
        ours += ["-n", str(max_frames)]
    gdb = ["gdb", "-batch", "-nx"] + (["-ex", "set backtrace past-main on"] if past_main else []) \
        + ["-ex", "thread apply all bt", str(exe), str(core)]
    eu = ["eu-stack", "--core", str(core), "-e", str(exe), "-n", "0"]

    ours_total, per_thread = count_ours(exe, core, max_frames or MAX_FRAMES)
    counts = {"eu-stack": count_eu_stack(exe, core), "gdb": count_gdb(exe, core), "ours": ours_total}
    rows: list[Command] = []
    if shutil.which("gdb"):
        rows.append(Command("gdb " + ("bt past-main" if past_main else "thread apply all bt"), gdb))
    if shutil.which("eu-stack"):
        rows.append(Command("eu-stack -n 0", eu))
    if args.drgn:
        counts["drgn"] = count_drgn(args.drgn, exe, core)
        rows.append(Command("drgn stack_trace() (own venv)", [args.drgn, "-c", DRGN_SCRIPT, str(core), str(exe)]))
    rows.append(Command("python -m dwarfunwind unwind" + (f" -n {max_frames}" if max_frames else ""), ours, env,
                        cwd=str(REPO)))
    if args.baseline_tree:
        rows.append(Command(f"  same, at {args.baseline}", ours, python_env(args.baseline_tree),
                            cwd=args.baseline_tree))
    # The interpreter's own start-up, with and without site, and ours without site.
    rows.append(Command("  python -S -m dwarfunwind unwind (no site)", [PY, "-S"] + ours[1:], env))
    rows.append(Command("  python -c pass", [PY, "-c", "pass"], env))
    rows.append(Command("  python -S -c pass", [PY, "-S", "-c", "pass"], env))
    rows.append(Command("  python -c 'import dwarfunwind.cli, .program'",
                        [PY, "-c", "import dwarfunwind.cli, dwarfunwind.program"], env))

    print(f"\n== {title}")
    print(f"   exe  {exe}\n   core {core} ({os.path.getsize(core) / 1e6:.1f} MB)")
    print(f"   physical frames: ours {ours_total} (per thread {per_thread}), eu-stack {counts['eu-stack']}, "
          f"gdb {counts['gdb']} (past-main, inline/tail-call frames left out)"
          + (f", drgn {counts.get('drgn')} (inline left out; caps at 1024/thread; "
             "ends each thread with a pc-less '???')" if args.drgn else ""))
    interleave(rows, args.runs, cwd=str(REPO))
    base = rows[0] if rows[0].name.startswith("gdb") else None
    print("\n".join("   " + line for line in table(rows, base, "gdb")))
    return rows


# -- in-process ------------------------------------------------------------------------------------------

def warm(label: str, exe, core, repeats: int, profile: cProfile.Profile | None) -> dict:
    from dwarfunwind import Program

    t0 = time.perf_counter()
    with Program.from_core(str(core), exe=str(exe)) as p:
        t_open = time.perf_counter() - t0
        thread = p.threads()[0]
        unwind = p.unwinder.unwind_thread
        t0 = time.perf_counter()
        tr = unwind(thread, max_frames=MAX_FRAMES)
        t_first = time.perf_counter() - t0
        n = len(tr.frames)
        ns = time.process_time_ns  # CPU time: on a loaded machine wall time mostly measures the queue
        times = []
        for _ in range(repeats):
            t = ns()
            unwind(thread, max_frames=MAX_FRAMES)
            times.append(ns() - t)
        if profile is not None:
            profile.enable()
            for _ in range(max(1, repeats // 5)):
                unwind(thread, max_frames=MAX_FRAMES)
            profile.disable()
        # every thread, warm (the c_threads case: 4 short stacks)
        all_times = []
        total_frames = sum(len(t.frames) for t in p.unwinder.unwind(max_frames=MAX_FRAMES))
        for _ in range(repeats):
            t = ns()
            p.unwinder.unwind(max_frames=MAX_FRAMES)
            all_times.append(ns() - t)
    med = statistics.median(times) / 1e3
    med_all = statistics.median(all_times) / 1e3
    return {"label": label, "open_ms": t_open * 1e3, "first_ms": t_first * 1e3, "frames": n,
            "walk_us": med, "per_frame_us": med / n, "min_per_frame_us": min(times) / 1e3 / n,
            "all_frames": total_frames, "all_us": med_all, "all_per_frame_us": med_all / total_frames}


def warm_rounds(label: str, exe, core, args, rounds: int = 3) -> dict[str, dict]:
    """warm() in child processes, ours and the baseline's interleaved; per tree the round with the median µs/frame."""
    trees = [("ours", str(REPO))] + ([(f"at {args.baseline}", args.baseline_tree)] if args.baseline_tree else [])
    got: dict[str, list[dict]] = {name: [] for name, _ in trees}
    for _ in range(rounds):
        for name, root in trees:
            out = subprocess.run([PY, __file__, "--warm-child", root, label, str(exe), str(core), str(args.repeats)],
                                 capture_output=True, text=True, env=python_env(root), check=True).stdout
            got[name].append(json.loads(out))
    return {name: sorted(rs, key=lambda r: r["per_frame_us"])[len(rs) // 2] for name, rs in got.items()}


# -- profiles ----------------------------------------------------------------------------------------------

def short(func: tuple) -> str:
    filename, line, name = func
    if filename == "~":
        return name
    try:
        filename = str(Path(filename).resolve().relative_to(REPO))
    except ValueError:
        filename = Path(filename).name
    return f"{filename}:{line}({name})"


def print_profile(title: str, stats: pstats.Stats, top: int) -> None:
    total = stats.total_tt or 1e-9
    entries = stats.stats  # func -> (cc, nc, tt, ct, callers)
    print(f"\n-- profile: {title} (total {total * 1e3:.1f} ms under cProfile)")
    print(f"   {'cum %':>6} {'own %':>6} {'calls':>8}  function   [by cumulative]")
    for func, (_cc, nc, tt, ct, _c) in sorted(entries.items(), key=lambda kv: -kv[1][3])[:top]:
        print(f"   {ct / total * 100:6.1f} {tt / total * 100:6.1f} {nc:8d}  {short(func)}")
    print(f"   {'own %':>6} {'cum %':>6} {'calls':>8}  function   [by own time]")
    for func, (_cc, nc, tt, ct, _c) in sorted(entries.items(), key=lambda kv: -kv[1][2])[:top]:
        print(f"   {tt / total * 100:6.1f} {ct / total * 100:6.1f} {nc:8d}  {short(func)}")


def profile_cli(title: str, exe, core, max_frames: int | None, top: int) -> None:
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "prof")
        cmd = [PY, "-m", "cProfile", "-o", out, "-m", "dwarfunwind", "unwind", str(core), "--exe", str(exe)]
        if max_frames:
            cmd += ["-n", str(max_frames)]
        subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=clean_env(), cwd=REPO)
        print_profile(title, pstats.Stats(out), top)


# -- main --------------------------------------------------------------------------------------------------

def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=11, help="interleaved rounds of whole-process runs (11)")
    ap.add_argument("--repeats", type=int, default=101, help="warm in-process walks per core (101)")
    ap.add_argument("--depth", type=int, default=make_cores.DEFAULT_DEPTH, help="python recursion depth (367)")
    ap.add_argument("--out", type=Path, default=make_cores.DEFAULT_OUT, help="where the cores are built")
    ap.add_argument("--baseline", metavar="REV", help="add ours at this git revision (before/after)")
    ap.add_argument("--drgn", metavar="PYTHON", help="an interpreter with drgn installed: add drgn rows")
    ap.add_argument("--profile", action="store_true", help="cProfile one run of each and print the hot spots")
    ap.add_argument("--top", type=int, default=15, help="rows per profile table (15)")
    ap.add_argument("--json-out", help="write the figures here (for bench/speed_table.py)")
    ap.add_argument("--warm-child", nargs=5, metavar=("ROOT", "LABEL", "EXE", "CORE", "REPEATS"),
                    help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.warm_child:
        root, label, exe, core, repeats = args.warm_child
        sys.path.insert(0, root)  # the tree under test, before this checkout (not imported yet)
        print(json.dumps(warm(label, exe, core, int(repeats), None)))
        return 0

    # Byte-compile once so that every timed run loads .pyc files (the environment may set
    # PYTHONDONTWRITEBYTECODE=1; the timed runs unset it, see runner.python_env()).
    subprocess.run([PY, "-m", "compileall", "-q", "dwarfunwind"], cwd=REPO, env=clean_env(), check=True)
    args.baseline_tree = export_revision(str(REPO), args.baseline) if args.baseline else None

    c_exe, c_core = make_cores.c_threads(args.out)
    py_exe, py_core = make_cores.python_core(args.out, args.depth)

    print(f"machine:     {machine()}")
    print(f"interpreter: {interpreter_setup()}")
    print(f"gdb:         {tool_version(['gdb', '--version'])}")
    print(f"eu-stack:    {tool_version(['eu-stack', '--version'])}")
    if args.drgn:
        print("drgn:        " + tool_version([args.drgn, "-c", "import drgn; print(drgn.__version__)"]))
    print(f"runs:        {args.runs} interleaved rounds (after one warm-up round); warm repeats {args.repeats}")

    r1 = scenario("1. c_threads: dynamically linked C, 4 threads", c_exe, c_core, args,
                  past_main=False, max_frames=None)
    r2 = scenario(f"2. python3 recursion through sum(map(f, ...)), depth {args.depth}", py_exe, py_core, args,
                  past_main=True, max_frames=MAX_FRAMES)

    w = {"c_threads": warm_rounds("c_threads", c_exe, c_core, args),
         "python3 recursion": warm_rounds("python3 recursion", py_exe, py_core, args)}
    print("\n== 3. warm in-process: Program.from_core once, crashed thread walked once, then "
          f"median of {args.repeats} unwind_thread() calls (child processes, 3 interleaved rounds)")
    print(f"   {'core':<18} {'tree':<14} {'open ms':>8} {'1st walk ms':>11} {'frames':>6} {'walk us':>9} "
          f"{'us/frame':>8} {'min us/fr':>9}   {'all threads: frames':>19} {'us':>8} {'us/frame':>8}")
    for label, trees in w.items():
        for tree, x in trees.items():
            print(f"   {label:<18} {tree:<14} {x['open_ms']:8.1f} {x['first_ms']:11.1f} {x['frames']:6d} "
                  f"{x['walk_us']:9.0f} {x['per_frame_us']:8.2f} {x['min_per_frame_us']:9.2f}   "
                  f"{x['all_frames']:19d} {x['all_us']:8.0f} {x['all_per_frame_us']:8.2f}")

    def median(rows: list[Command], prefix: str, *, cpu: bool = False) -> float:
        c = next((c for c in rows if c.name.strip().startswith(prefix)), None)
        return (c.cpu_median if cpu else c.median) if c is not None else float("nan")

    g1 = median(r1, "python -m dwarfunwind") / median(r1, "gdb")
    g1c = median(r1, "python -m dwarfunwind", cpu=True) / median(r1, "gdb", cpu=True)
    g1s = median(r1, "python -S -m dwarfunwind") / median(r1, "gdb")
    g2 = median(r2, "python -m dwarfunwind") / median(r2, "eu-stack")
    g3 = w["python3 recursion"]["ours"]["per_frame_us"]
    print("\n== goals")
    print(f"   1. ours <= 1/4 of gdb on c_threads:      wall {g1:.2f}, CPU {g1c:.2f}  "
          f"{'MET' if g1 <= 0.25 else 'not met'}  (python -S: {g1s:.2f})")
    print(f"   2. ours faster than eu-stack on python3: ours/eu-stack = {g2:.2f}  {'MET' if g2 < 1 else 'not met'}")
    print(f"   3. warm < 8 us/frame on python3:         {g3:.2f} us/frame  {'MET' if g3 < 8 else 'not met'}")
    if args.json_out:
        def dump(rows: list[Command]) -> dict:
            return {c.name.strip(): {"median": c.median, "min": min(c.times), "max": max(c.times),
                                     "cpu": c.cpu_median, "rss_mb": c.rss_mb, "runs": len(c.times)} for c in rows}
        with open(args.json_out, "w") as f:
            json.dump({"machine": machine(), "interpreter": interpreter_setup(), "c_threads": dump(r1),
                       "python_core": dump(r2), "warm": w, "baseline": args.baseline}, f, indent=1)

    if args.profile:
        prof = cProfile.Profile()
        warm("python3 recursion", py_exe, py_core, args.repeats, prof)
        profile_cli("1. python -m dwarfunwind unwind c_threads (whole process)", c_exe, c_core, None, args.top)
        profile_cli("2. python -m dwarfunwind unwind python3 core -n 5000 (whole process)", py_exe, py_core,
                    MAX_FRAMES, args.top)
        print_profile("3. warm unwind_thread() on the python3 core (in-process)", pstats.Stats(prof), args.top)
    return 0


if __name__ == "__main__":
    sys.exit(main())
