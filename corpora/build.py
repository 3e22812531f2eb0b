#!/usr/bin/env python3
"""Build the dwarfunwind test corpus: binaries, cores and gdb oracles.

    python3 corpora/build.py --out DIR [--only NAME ...] [--no-cores] [--force]
                             [--eu-stack] [--jobs N] [--list]

For every program NAME (see PROGRAMS) this writes into DIR:
    NAME             the binary (compiled with -g from corpora/*.c|*.cc|*.S)
    NAME.core        the core dump (kernel core, or gdb `gcore` fallback)
    NAME.gdb.json    the oracle: gdb's backtrace of every thread of the core
                     (corpora/gdb_frames.py; format in corpora/README.md)
    NAME.eu-stack.txt  (only with --eu-stack, if eu-stack is installed)

Importable (stdlib only) -- tests load it with importlib:
    PROGRAMS: dict[str, dict]             name -> spec
    build(names=None, out=Path, cores=True, force=False, jobs=None,
          check=True) -> dict[str, Path]  name -> binary path
    artifacts(name, out) -> dict[str, Path]   binary/core/oracle/eu_stack paths
    check_oracle(name, oracle) -> list[str]   problems vs. spec["expect"]
    write_eu_stack(names, out) -> dict[str, Path]
    MAGIC: dict[str, int]                 register name -> magic value
"""
from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SRC = HERE  # sources live directly in corpora/
GDB_SCRIPT = HERE / "gdb_frames.py"
EXPECTED = HERE / "expected"

COMPILE_TIMEOUT = 120
RUN_TIMEOUT = 30
GDB_TIMEOUT = 180

# DWARF register number -> name, and the magic value loaded by faulting_func
# (must match corpora/magic.h and expected/magic.json).
_DWARF_NAMES = {0: "rax", 1: "rdx", 2: "rcx", 3: "rbx", 4: "rsi", 5: "rdi", 6: "rbp",
                8: "r8", 9: "r9", 10: "r10", 11: "r11", 12: "r12", 13: "r13", 14: "r14", 15: "r15"}
MAGIC: dict[str, int] = {
    name: 0xC0DE000000000000 | ((0x10 + n) * 0x010101010101) for n, name in _DWARF_NAMES.items()
}

_COMMON = ["-g"]
_SEED_C = ["-O1", "-fno-omit-frame-pointer"]


def _prog(sources, flags, *, lang="c", static=False, ldflags=(), description="", expect=None):
    return {
        "sources": list(sources),
        "lang": lang,
        "cflags": _COMMON + list(flags),
        "ldflags": list(ldflags) + (["-static"] if static else []),
        "static": static,
        "description": description,
        "expect": expect or {},
    }


_SEED_CHAIN = ["some_func", "some_other_func"]

PROGRAMS: dict[str, dict] = {
    # ---- general unwinder corpus -------------------------------------
    "c_basic_O0": _prog(["c_basic.c"], ["-O0", "-fno-omit-frame-pointer"],
                        description="nested calls then abort(); -O0, frame pointer, PIE",
                        expect={"signal": 6, "crash_functions": ["level3", "level2", "level1", "main"]}),
    "c_basic_O2_nofp": _prog(["c_basic.c"], ["-O2", "-fomit-frame-pointer"],
                             description="nested calls then abort(); -O2 without frame pointer, PIE",
                             expect={"signal": 6, "crash_functions": ["level3", "level2", "level1", "main"]}),
    "c_basic_O2_fp": _prog(["c_basic.c"], ["-O2", "-fno-omit-frame-pointer"],
                           description="nested calls then abort(); -O2 with frame pointer, PIE",
                           expect={"signal": 6, "crash_functions": ["level3", "level2", "level1", "main"]}),
    "c_basic_debug_frame": _prog(["c_basic.c"], ["-O2", "-fomit-frame-pointer", "-fno-asynchronous-unwind-tables",
                                                 "-fno-unwind-tables"],
                                 description="nested calls then abort(); the program's CFI only in .debug_frame",
                                 expect={"signal": 6, "crash_functions": ["level3", "level2", "level1", "main"]}),
    "c_basic_static": _prog(["c_basic.c"], ["-O2", "-fomit-frame-pointer", "-no-pie"], static=True,
                            ldflags=["-no-pie"],
                            description="nested calls then abort(); -O2, -static -no-pie",
                            expect={"signal": 6,
                                    "crash_functions": ["abort", "level3", "level2", "level1", "main"]}),
    "c_threads": _prog(["c_threads.c"], ["-O2", "-pthread"], ldflags=["-pthread"],
                       description="3 parked workers (pipe read, nanosleep, barrier); main aborts",
                       expect={"signal": 6, "threads": 4,
                               "crash_functions": ["crash_main_chain", "main"],
                               "thread_functions": [["reader_chain", "reader_thread"],
                                                    ["sleeper_chain", "sleeper_thread"],
                                                    ["barrier_chain", "barrier_thread"]]}),
    "c_threads_worker": _prog(["c_threads.c"], ["-O2", "-pthread", "-DCRASH_IN_WORKER"], ldflags=["-pthread"],
                              description="3 parked workers + main in pthread_join; a 4th worker aborts",
                              expect={"signal": 6, "threads": 5,
                                      "crash_functions": ["crash_worker_chain", "crasher_thread"],
                                      "thread_functions": [["reader_chain", "reader_thread"],
                                                           ["sleeper_chain", "sleeper_thread"],
                                                           ["barrier_chain", "barrier_thread"],
                                                           ["main"]]}),
    "c_recursion": _prog(["c_recursion.c"], ["-O2"],
                         description="500-deep recursion then abort()",
                         expect={"signal": 6, "crash_functions": ["recurse", "main"],
                                 "count": {"recurse": 500}}),
    "c_vfork": _prog(["c_vfork.c"], ["-O2"],
                     description="killed in glibc's __vfork on the syscall's return (return address in rdi)",
                     expect={"signal": 3, "crash_functions": ["spawn", "main"]}),
    "c_segv_handler": _prog(["c_segv_handler.c"], ["-O2"],
                            description="NULL load in a leaf; SA_SIGINFO SIGSEGV handler aborts "
                                        "(stack crosses glibc __restore_rt)",
                            expect={"signal": 6,
                                    "crash_functions": ["handler_helper", "handler", "leaf", "outer", "main"],
                                    "sigtramp_before": "leaf"}),
    "c_segv_handler_altstack": _prog(["c_segv_handler.c"], ["-O2", "-DALTSTACK"],
                                     description="as c_segv_handler, handler on a sigaltstack (SA_ONSTACK)",
                                     expect={"signal": 6,
                                             "crash_functions": ["handler_helper", "handler", "leaf",
                                                                 "outer", "main"],
                                             "sigtramp_before": "leaf"}),
    "c_realign": _prog(["c_realign.c"], ["-O2"],
                       description="stack realignment (DRAP): DW_CFA_def_cfa_expression on the path",
                       expect={"signal": 6, "cfa_expression": True,
                               "crash_functions": ["inner", "realigned", "realigned_fa", "outer", "main"]}),
    "cxx_throw": _prog(["cxx_throw.cc"], ["-O2"], lang="c++",
                       description="C++ throw through 3 frames, caught in main, catch calls abort()",
                       expect={"signal": 6, "crash_functions": ["handle_error", "main"]}),
    "cxx_throw_uncaught": _prog(["cxx_throw.cc"], ["-O2", "-DNO_CATCH"], lang="c++",
                                description="C++ throw with no handler: std::terminate -> abort()",
                                expect={"signal": 6,
                                        "crash_functions": ["std::terminate", "__cxa_throw", "thrower3",
                                                            "thrower2", "thrower1", "main"]}),
    # ---- seed scenario -----------------------------------------------
    "entry_nomarker": _prog(["entry.S", "entry_main.c"], _SEED_C, static=True,
                            description="seed: kernel-style entry stub with pt_regs signal-frame CFI",
                            expect={"signal": 6, "seed": "entry",
                                    "crash_functions": _SEED_CHAIN + ["do_page_fault", "page_fault",
                                                                      "faulting_func", "caller_a", "main"],
                                    "sigtramp_before": "faulting_func", "magic_frame": "faulting_func"}),
    "entry_marker": _prog(["entry.S", "entry_main.c"], _SEED_C + ["-DMARKER"], static=True,
                          description="seed: entry stub + CREATE_PT_REGS_FRAME marker (pt_regs+1)",
                          expect={"signal": 6, "seed": "entry",
                                  "crash_functions": _SEED_CHAIN + ["do_page_fault", "page_fault",
                                                                    "faulting_func", "caller_a", "main"],
                                  "sigtramp_before": "faulting_func", "magic_frame": "faulting_func"}),
    "entry_nomarker_pie": _prog(["entry.S", "entry_main.c"], _SEED_C,
                                description="seed: entry_nomarker as a dynamic PIE",
                                expect={"signal": 6, "seed": "entry",
                                        "crash_functions": _SEED_CHAIN + ["do_page_fault", "page_fault",
                                                                          "faulting_func", "caller_a", "main"],
                                        "sigtramp_before": "faulting_func", "magic_frame": "faulting_func"}),
    "entry_marker_pie": _prog(["entry.S", "entry_main.c"], _SEED_C + ["-DMARKER"],
                              description="seed: entry_marker as a dynamic PIE",
                              expect={"signal": 6, "seed": "entry",
                                      "crash_functions": _SEED_CHAIN + ["do_page_fault", "page_fault",
                                                                        "faulting_func", "caller_a", "main"],
                                      "sigtramp_before": "faulting_func", "magic_frame": "faulting_func"}),
    "sigsegv_glibc": _prog(["sigsegv_entry.S", "sigsegv_main.c"], _SEED_C, static=True,
                           description="seed, real kernel path: NULL load with magic registers, "
                                       "sigaction handler (glibc __restore_rt)",
                           expect={"signal": 6, "seed": "sigsegv",
                                   "crash_functions": _SEED_CHAIN + ["segv_handler", "__restore_rt",
                                                                     "faulting_func", "caller_a", "main"],
                                   "sigtramp_before": "faulting_func", "magic_frame": "faulting_func"}),
    "sigsegv_restorer": _prog(["sigsegv_entry.S", "sigsegv_main.c"], _SEED_C + ["-DUSE_RESTORER"], static=True,
                              description="seed, real kernel path: raw rt_sigaction + SA_RESTORER "
                                          "with our own my_restore_rt",
                              expect={"signal": 6, "seed": "sigsegv",
                                      "crash_functions": _SEED_CHAIN + ["segv_handler", "my_restore_rt",
                                                                        "faulting_func", "caller_a", "main"],
                                      "sigtramp_before": "faulting_func", "magic_frame": "faulting_func"}),
}


# ----------------------------------------------------------------------
def artifacts(name: str, out: Path) -> dict[str, Path]:
    out = Path(out)
    return {"binary": out / name, "core": out / f"{name}.core", "oracle": out / f"{name}.gdb.json",
            "eu_stack": out / f"{name}.eu-stack.txt"}


def _inputs(name: str) -> list[Path]:
    spec = PROGRAMS[name]
    return [SRC / s for s in spec["sources"]] + [SRC / "magic.h", SRC / "pt_regs.h", SRC / "die_here.h",
                                                  Path(__file__).resolve(), GDB_SCRIPT]


def _up_to_date(name: str, out: Path, cores: bool) -> bool:
    paths = artifacts(name, out)
    needed = [paths["binary"]] + ([paths["core"], paths["oracle"]] if cores else [])
    if not all(p.exists() for p in needed):
        return False
    newest_input = max(p.stat().st_mtime for p in _inputs(name))
    return min(p.stat().st_mtime for p in needed) >= newest_input


def _compile(name: str, out: Path) -> Path:
    spec = PROGRAMS[name]
    cc = "g++" if spec["lang"] == "c++" else "gcc"
    binary = artifacts(name, out)["binary"]
    tmp = binary.with_name(f"{binary.name}.tmp{os.getpid()}-{threading.get_ident()}")
    cmd = [cc, *spec["cflags"], f"-I{SRC}", *[str(SRC / s) for s in spec["sources"]],
           *spec["ldflags"], "-o", str(tmp)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=COMPILE_TIMEOUT)
    if r.returncode != 0:
        raise RuntimeError(f"{name}: compile failed: {' '.join(cmd)}\n{r.stderr}")
    os.replace(tmp, binary)
    return binary


def _unlimit_core():
    try:
        resource.setrlimit(resource.RLIMIT_CORE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
    except (ValueError, OSError):
        soft, hard = resource.getrlimit(resource.RLIMIT_CORE)
        resource.setrlimit(resource.RLIMIT_CORE, (hard, hard))


def _check_exit(name: str, rc: int, stderr: str) -> None:
    if rc >= 0:
        raise RuntimeError(f"{name}: exited with status {rc} instead of crashing "
                           f"(97 = self-check failed):\n{stderr}")


def _dump_core(name: str, binary: Path, out: Path) -> Path:
    core = artifacts(name, out)["core"]
    rundir = Path(tempfile.mkdtemp(prefix=f".run-{name}-", dir=out))
    try:
        try:
            r = subprocess.run([str(binary)], cwd=rundir, preexec_fn=_unlimit_core,
                               stdin=subprocess.DEVNULL, capture_output=True, text=True,
                               timeout=RUN_TIMEOUT)
            _check_exit(name, r.returncode, r.stderr)
        except subprocess.TimeoutExpired:
            raise RuntimeError(f"{name}: did not terminate within {RUN_TIMEOUT}s") from None
        produced = sorted(p for p in rundir.iterdir() if p.name == "core" or p.name.startswith("core."))
        if produced:
            os.replace(produced[0], core)
            return core
        # The kernel wrote no core (core_pattern pipes to a helper, etc.):
        # run under gdb and take the core with gcore at the fatal signal.
        tmpcore = rundir / "gcore"
        cmd = ["gdb", "-batch", "-nx", "-ex", "set debuginfod enabled off",
               "-ex", "set startup-with-shell off",
               "-ex", "handle SIGSEGV nostop noprint pass",
               "-ex", "run", "-ex", f"gcore {tmpcore}", "-ex", "kill", str(binary)]
        r = subprocess.run(cmd, cwd=rundir, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                           timeout=GDB_TIMEOUT)
        if not tmpcore.exists():
            raise RuntimeError(f"{name}: no core from the kernel nor from gdb gcore:\n{r.stdout}\n{r.stderr}")
        os.replace(tmpcore, core)
        return core
    finally:
        shutil.rmtree(rundir, ignore_errors=True)


def _oracle(name: str, binary: Path, core: Path, out: Path) -> Path:
    path = artifacts(name, out)["oracle"]
    tmp = path.with_name(f"{path.name}.tmp{os.getpid()}-{threading.get_ident()}")
    env = dict(os.environ, GDB_FRAMES_OUT=str(tmp), GDB_FRAMES_BINARY=str(binary),
               GDB_FRAMES_CORE=str(core))
    env.pop("DEBUGINFOD_URLS", None)
    cmd = ["gdb", "-batch", "-nx", "-ex", "set debuginfod enabled off", "-x", str(GDB_SCRIPT),
           str(binary), str(core)]
    r = subprocess.run(cmd, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                       timeout=GDB_TIMEOUT)
    if not tmp.exists():
        raise RuntimeError(f"{name}: gdb oracle failed:\n{r.stdout}\n{r.stderr}")
    os.replace(tmp, path)
    return path


def _frame_names(frame: dict) -> set[str]:
    names = {frame.get("function"), frame.get("symbol")}
    for n in list(names):
        if n:
            names.add(n.split("(")[0])  # "std::terminate()" -> "std::terminate"
    names.discard(None)
    return names


def _is_subsequence(wanted: list[str], frames: list[dict]) -> bool:
    i = 0
    for f in frames:
        if i < len(wanted) and wanted[i] in _frame_names(f):
            i += 1
    return i == len(wanted)


def check_oracle(name: str, oracle: dict) -> list[str]:
    """Compare a gdb oracle with PROGRAMS[name]["expect"]; return problems."""
    exp = PROGRAMS[name]["expect"]
    problems = []
    threads = oracle.get("threads", [])
    if not threads:
        return ["no threads in oracle"]
    crash = threads[0]["frames"]
    if "signal" in exp and oracle.get("signal") not in (None, exp["signal"]):
        problems.append(f"signal {oracle.get('signal')} != {exp['signal']}")
    if "threads" in exp and len(threads) != exp["threads"]:
        problems.append(f"{len(threads)} threads, expected {exp['threads']}")
    if "crash_functions" in exp and not _is_subsequence(exp["crash_functions"], crash):
        problems.append(f"crashing thread lacks {exp['crash_functions']} "
                        f"(has {[f['function'] for f in crash]})")
    for seq in exp.get("thread_functions", []):
        if not any(_is_subsequence(seq, t["frames"]) for t in threads[1:]):
            problems.append(f"no other thread has {seq}")
    for fn, n in exp.get("count", {}).items():
        got = sum(1 for f in crash if fn in _frame_names(f))
        if got != n:
            problems.append(f"{got} frames of {fn}, expected {n}")
    if "sigtramp_before" in exp:
        idx = [i for i, f in enumerate(crash) if exp["sigtramp_before"] in _frame_names(f)]
        if not idx or idx[0] == 0 or crash[idx[0] - 1]["type"] != "SIGTRAMP":
            problems.append(f"{exp['sigtramp_before']} is not directly below a SIGTRAMP frame")
    if "magic_frame" in exp:
        fr = [f for f in crash if exp["magic_frame"] in _frame_names(f)]
        if not fr:
            problems.append(f"no frame {exp['magic_frame']}")
        else:
            regs = fr[0]["registers"]
            bad = [r for r, v in MAGIC.items() if regs.get(r) != v]
            if bad:
                problems.append(f"{exp['magic_frame']}: registers not magic: {bad}")
    return problems


def _cfa_expression_present(binary: Path) -> bool:
    r = subprocess.run(["readelf", "--debug-dump=frames", str(binary)], capture_output=True, text=True,
                       timeout=60)
    return "DW_CFA_def_cfa_expression" in r.stdout


def _build_one(name: str, out: Path, cores: bool, force: bool, check: bool) -> tuple[Path, list[str]]:
    if not force and _up_to_date(name, out, cores):
        binary = artifacts(name, out)["binary"]
    else:
        binary = _compile(name, out)
        if cores:
            core = _dump_core(name, binary, out)
            _oracle(name, binary, core, out)
    problems = []
    if check:
        if PROGRAMS[name]["expect"].get("cfa_expression") and not _cfa_expression_present(binary):
            problems.append("no DW_CFA_def_cfa_expression in .eh_frame")
        if cores:
            oracle = json.loads(artifacts(name, out)["oracle"].read_text())
            problems += check_oracle(name, oracle)
    return binary, problems


def build(names: list[str] | None = None, out: Path = Path("corpora-out"), cores: bool = True,
          force: bool = False, jobs: int | None = None, check: bool = True) -> dict[str, Path]:
    """Build the given programs (all if None) into `out`; return name -> binary path.

    With cores=True also writes NAME.core and NAME.gdb.json.  Up-to-date
    outputs (newer than their sources) are reused unless force=True.
    With check=True, a RuntimeError is raised if the gdb oracle does not
    show what PROGRAMS[name]["expect"] describes.
    """
    names = list(PROGRAMS) if names is None else list(names)
    unknown = [n for n in names if n not in PROGRAMS]
    if unknown:
        raise KeyError(f"unknown corpus programs: {unknown}")
    out = Path(out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    jobs = jobs or max(2, os.cpu_count() or 2)
    results: dict[str, Path] = {}
    errors: list[str] = []
    with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as ex:
        futs = {ex.submit(_build_one, n, out, cores, force, check): n for n in names}
        for fut in concurrent.futures.as_completed(futs):
            n = futs[fut]
            try:
                binary, problems = fut.result()
            except Exception as e:  # noqa: BLE001
                errors.append(f"{n}: {e}")
                continue
            results[n] = binary
            errors += [f"{n}: {p}" for p in problems]
    if errors:
        raise RuntimeError("corpus build problems:\n  " + "\n  ".join(errors))
    return {n: results[n] for n in names}


def write_eu_stack(names: list[str] | None, out: Path) -> dict[str, Path]:
    """Write NAME.eu-stack.txt (`eu-stack --core NAME.core -e NAME -n 0`) if eu-stack exists."""
    exe = shutil.which("eu-stack")
    if exe is None:
        return {}
    out = Path(out).resolve()
    res = {}
    for n in (list(PROGRAMS) if names is None else names):
        p = artifacts(n, out)
        if not p["core"].exists():
            continue
        r = subprocess.run([exe, "--core", str(p["core"]), "-e", str(p["binary"]), "-n", "0"],
                           capture_output=True, text=True, timeout=GDB_TIMEOUT)
        p["eu_stack"].write_text(r.stdout + (("\n# stderr:\n" + r.stderr) if r.stderr else ""))
        res[n] = p["eu_stack"]
    return res


DEMO_PROGRAMS = ["entry_nomarker", "entry_marker", "sigsegv_glibc", "sigsegv_restorer"]
DEMO_DATA = HERE.parent / "dwarfunwind" / "data"


def demo_data(work: Path, dest: Path = DEMO_DATA) -> list[Path]:
    """Rebuild the demo's package data: the static seed programs and their cores, xz-compressed.

    Static, so that the shipped cores unwind on any machine with no libraries
    of the build machine; debug info stripped (symbols kept) to keep the
    package small. Returns the files written.
    """
    import lzma

    built = build(DEMO_PROGRAMS, work, cores=True, force=True)
    dest.mkdir(parents=True, exist_ok=True)
    written = []
    for name in DEMO_PROGRAMS:
        paths = artifacts(name, work)
        stripped = Path(work) / f"{name}.stripped"
        subprocess.run(["strip", "--strip-debug", "-o", str(stripped), str(built[name])], check=True,
                       timeout=COMPILE_TIMEOUT)
        for src, suffix in ((stripped, ""), (paths["core"], ".core")):
            target = dest / f"{name}{suffix}.xz"
            target.write_bytes(lzma.compress(src.read_bytes(), preset=9 | lzma.PRESET_EXTREME))
            written.append(target)
    manifest = dest / "demo.json"
    published = json.loads((HERE / "expected" / "magic.json").read_text())["registers"]
    magic = {reg: entry["int"] for reg, entry in published.items()}
    manifest.write_text(json.dumps({"programs": DEMO_PROGRAMS, "magic": magic}, indent=1) + "\n")
    written.append(manifest)
    return written


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, help="output directory")
    ap.add_argument("--only", nargs="+", metavar="NAME", help="build only these programs")
    ap.add_argument("--no-cores", action="store_true", help="compile only (no core, no oracle)")
    ap.add_argument("--force", action="store_true", help="rebuild even if outputs are up to date")
    ap.add_argument("--eu-stack", action="store_true", help="also write NAME.eu-stack.txt")
    ap.add_argument("--jobs", type=int, default=None)
    ap.add_argument("--no-check", action="store_true", help="do not compare oracles with expectations")
    ap.add_argument("--list", action="store_true", help="list programs and exit")
    ap.add_argument("--demo-data", action="store_true",
                    help="rebuild dwarfunwind/data (the demo's static binaries and cores) via --out")
    a = ap.parse_args(argv)
    if a.list:
        for n, s in PROGRAMS.items():
            print(f"{n:26s} {s['description']}")
        return 0
    if a.out is None:
        ap.error("--out is required")
    t0 = time.monotonic()
    if a.demo_data:
        for path in demo_data(a.out):
            print(f"wrote {path} ({path.stat().st_size} bytes)")
        return 0
    try:
        res = build(a.only, a.out, cores=not a.no_cores, force=a.force, jobs=a.jobs, check=not a.no_check)
    except (RuntimeError, KeyError) as e:
        print(e, file=sys.stderr)
        return 1
    if a.eu_stack and not a.no_cores:
        if not write_eu_stack(list(res), a.out):
            print("eu-stack not found; skipped", file=sys.stderr)
    print(f"built {len(res)} programs into {a.out.resolve()} in {time.monotonic() - t0:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
