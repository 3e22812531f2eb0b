#!/usr/bin/env python3
"""Build the cores that bench/bench_unwind.py times.

* ``c_threads`` from the corpus (corpora/build.py): dynamically linked C, main + 3 parked
  worker threads, aborts in main; 24 physical frames in all (eu-stack ``-n 0``).
* ``python_recursion``: ``python3`` aborting at the bottom of a recursion through
  ``sum(map(f, [n-1]))``. Each level costs 4 native frames (CPython 3.11), so depth 367
  gives ~1,500 native frames (1,499 with Debian's python3.11). The interpreter is
  /usr/bin/python3 if it exists, else the real interpreter running this script.

Cores are reused when present (``--force`` to redo). The kernel writes the core in a fresh
temporary cwd with RLIMIT_CORE unlimited (core_pattern ``core`` or ``core.PID``); if it
writes nothing (core_pattern pipes to a helper), gdb takes it with ``gcore`` instead.

    python3 bench/make_cores.py [--out DIR] [--depth N] [--force]
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import resource
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_OUT = Path(tempfile.gettempdir()) / "dwarfunwind-bench"
DEFAULT_DEPTH = 367

PY_RECURSION = "import os\ndef f(n): return os.abort() if n == 0 else sum(map(f, [n - 1]))\nf({depth})\n"


def system_python() -> str:
    if os.path.exists("/usr/bin/python3"):
        return os.path.realpath("/usr/bin/python3")
    return os.path.realpath(sys.executable)


def _corpus_build():
    spec = importlib.util.spec_from_file_location("corpora_build", REPO / "corpora" / "build.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def c_threads(out: Path = DEFAULT_OUT, force: bool = False) -> tuple[Path, Path]:
    """(executable, core) of corpus program c_threads, built into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    b = _corpus_build()
    b.build(["c_threads"], out, cores=True, force=force)
    a = b.artifacts("c_threads", out)
    return a["binary"], a["core"]


def _unlimit_core() -> None:
    try:
        resource.setrlimit(resource.RLIMIT_CORE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
    except (ValueError, OSError):
        _soft, hard = resource.getrlimit(resource.RLIMIT_CORE)
        resource.setrlimit(resource.RLIMIT_CORE, (hard, hard))


def python_core(out: Path = DEFAULT_OUT, depth: int = DEFAULT_DEPTH, python: str | None = None,
                force: bool = False) -> tuple[Path, Path]:
    """(interpreter, core) of python3 aborting at recursion depth ``depth``."""
    out.mkdir(parents=True, exist_ok=True)
    exe = Path(python or system_python())
    core = out / f"python_recursion_{depth}.core"
    stamp = out / f"python_recursion_{depth}.exe"
    if core.exists() and not force and stamp.exists() and stamp.read_text().strip() == str(exe):
        return exe, core
    code = PY_RECURSION.format(depth=depth)
    rundir = Path(tempfile.mkdtemp(prefix=".run-python-", dir=out))
    try:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
        r = subprocess.run([str(exe), "-c", code], cwd=rundir, preexec_fn=_unlimit_core, env=env,
                           stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)
        if r.returncode >= 0:
            raise RuntimeError(f"{exe}: exited {r.returncode} instead of aborting:\n{r.stderr}")
        produced = sorted(p for p in rundir.iterdir() if p.name == "core" or p.name.startswith("core."))
        if produced:
            os.replace(produced[0], core)
        else:
            tmp = rundir / "gcore"
            cmd = ["gdb", "-batch", "-nx", "-ex", "set debuginfod enabled off",
                   "-ex", "set startup-with-shell off", "-ex", "run", "-ex", f"gcore {tmp}", "-ex", "kill",
                   "--args", str(exe), "-c", code]
            g = subprocess.run(cmd, cwd=rundir, env=env, stdin=subprocess.DEVNULL, capture_output=True,
                               text=True, timeout=120)
            if not tmp.exists():
                raise RuntimeError(f"no core from the kernel nor from gdb gcore:\n{g.stdout}\n{g.stderr}")
            os.replace(tmp, core)
        stamp.write_text(f"{exe}\n")
        return exe, core
    finally:
        shutil.rmtree(rundir, ignore_errors=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--depth", type=int, default=DEFAULT_DEPTH, help=f"python recursion depth ({DEFAULT_DEPTH})")
    ap.add_argument("--python", default=None, help="interpreter to crash (default /usr/bin/python3)")
    ap.add_argument("--force", action="store_true")
    args = ap.parse_args()
    for exe, core in (c_threads(args.out, args.force),
                      python_core(args.out, args.depth, args.python, args.force)):
        print(f"{core}  (exe {exe})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
