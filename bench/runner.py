"""Interleaved whole-process timing with peak RSS, shared by the bench scripts.

The machine's load drifts, so commands are never timed in blocks: every round runs each
command once, in turn (A B C A B C ...), after one untimed warm-up round. Each run's wall
time comes from ``time.perf_counter`` around the child; its CPU time (user + sys) and peak
RSS from GNU time (``/usr/bin/time -f "%U %S %M"``), which runs it.
"""

from __future__ import annotations

import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field

#: The interpreter to time: this venv's python when run from a venv (its path is what makes it
#: the venv), else the real binary behind this one (not a pyenv shim, which adds start-up hooks).
PY = sys.executable if sys.prefix != sys.base_prefix else os.path.realpath(sys.executable)


def interpreter_setup() -> str:
    """How the interpreter running the benchmark is set up, for the report's header."""
    venv = sys.prefix != sys.base_prefix
    kind = f"venv {sys.prefix} over {sys.base_prefix}" if venv else f"installation {sys.prefix}"
    return (f"{PY} (binary {os.path.realpath(sys.executable)}), "
            f"{platform.python_implementation()} {platform.python_version()}, "
            f"{kind}; PYTHONDONTWRITEBYTECODE unset, bytecode precompiled")


@dataclass
class Command:
    """One command to time; ``env`` replaces the environment when given."""

    name: str
    argv: list[str]
    env: dict[str, str] | None = None
    #: Where to run it: for ``python -m dwarfunwind`` the tree under test (``-m`` puts the working
    #: directory first on sys.path, ahead of PYTHONPATH).
    cwd: str | None = None
    times: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    rss_kb: list[int] = field(default_factory=list)
    returncodes: set[int] = field(default_factory=set)

    @property
    def median(self) -> float:
        return statistics.median(self.times)

    @property
    def cpu_median(self) -> float:
        return statistics.median(self.cpu)

    @property
    def rss_mb(self) -> float:
        return statistics.median(self.rss_kb) / 1024


#: GNU time reports the command's own peak RSS. wait4() on our direct child would not: the child
#: starts as a copy of this (larger) process, and Linux keeps that high-water mark across exec.
TIME = "/usr/bin/time" if os.path.exists("/usr/bin/time") else (shutil.which("time") or "time")


def run_once(cmd: Command, cwd: str | None = None) -> tuple[float, float, int, int]:
    """(wall seconds, CPU seconds, peak RSS KiB, exit status) of one run, output to /dev/null.

    The command runs under GNU time, which reports its peak RSS (``%M``); the CPU time is
    wait4's for GNU time, which includes the command it waited for (``%U``/``%S`` are only
    to 10 ms), plus GNU time's own, well under a millisecond.
    """
    with tempfile.NamedTemporaryFile("r", suffix=".time") as rep, open(os.devnull, "wb") as null:
        argv = [TIME, "-q", "-o", rep.name, "-f", "%M", *cmd.argv]
        t0 = time.perf_counter()
        p = subprocess.Popen(argv, stdout=null, stderr=null, env=cmd.env, cwd=cmd.cwd or cwd)
        _, status, usage = os.wait4(p.pid, 0)
        dt = time.perf_counter() - t0
        p.returncode = os.waitstatus_to_exitcode(status)
        fields = rep.read().split()
    rss = int(fields[-1]) if fields and fields[-1].isdigit() else 0
    return dt, usage.ru_utime + usage.ru_stime, rss, p.returncode


def interleave(commands: list[Command], runs: int, cwd: str | None = None) -> list[Command]:
    """Run every command ``runs`` times, round-robin, after one untimed warm-up round."""
    for i in range(runs + 1):
        for cmd in commands:
            dt, cpu, rss, rc = run_once(cmd, cwd)
            cmd.returncodes.add(rc)
            if i:
                cmd.times.append(dt)
                cmd.cpu.append(cpu)
                cmd.rss_kb.append(rss)
    return commands


def table(commands: list[Command], base: Command | None, base_label: str) -> list[str]:
    """Markdown rows: wall median, min, max; ratio to ``base``; CPU (user+sys) median and ratio; peak RSS.

    Under load the wall time of a run includes waiting for a core; its CPU time does not,
    so the CPU ratio is the steadier figure on a shared machine.
    """
    w = max(len(c.name) for c in commands)
    lines = [f"| {'command'.ljust(w)} | median s | min s | max s | / {base_label} | CPU s | CPU / {base_label} "
             f"| peak RSS MB |",
             f"| {'-' * w} | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for c in commands:
        ratio = f"{c.median / base.median:.2f}" if base is not None and base.times else "-"
        cratio = f"{c.cpu_median / base.cpu_median:.2f}" if base is not None and base.cpu_median else "-"
        lines.append(f"| {c.name.ljust(w)} | {c.median:.4f} | {min(c.times):.4f} | {max(c.times):.4f} | "
                     f"{ratio} | {c.cpu_median:.4f} | {cratio} | {c.rss_mb:.1f} |")
    return lines


def machine() -> str:
    load = os.getloadavg()
    return (f"nproc={os.cpu_count()} {platform.machine()} {platform.platform()}; "
            f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} at start (shared machine)")


def export_revision(repo: str, rev: str) -> str:
    """The package as it was at git revision ``rev``, exported to a temporary directory and byte-compiled.

    For before/after rows: the same command is run with PYTHONPATH pointing there.
    """
    import tarfile
    import tempfile

    out = tempfile.mkdtemp(prefix=f"dwarfunwind-{rev}-")
    archive = subprocess.run(["git", "-C", repo, "archive", rev, "dwarfunwind"], check=True,
                             capture_output=True).stdout
    tar_path = os.path.join(out, "src.tar")
    with open(tar_path, "wb") as f:
        f.write(archive)
    with tarfile.open(tar_path) as tar:
        tar.extractall(out, filter="data")
    os.unlink(tar_path)
    subprocess.run([PY, "-m", "compileall", "-q", "dwarfunwind"], cwd=out, check=True)
    return out


def python_env(root: str, **extra: str) -> dict[str, str]:
    """The environment for ``python -m dwarfunwind`` from the tree at ``root``: bytecode used, caches off."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "PYTHONPATH")}
    env["PYTHONPATH"] = root
    env["DWARFUNWIND_NO_CACHE"] = "1"
    env.update(extra)
    return env
