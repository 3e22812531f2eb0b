"""Modules whose file was unlinked or replaced while mapped (the kernel names them ``PATH (deleted)``).

A daemon still running after a package upgrade maps files that are gone from their paths; gdb then
shows ``??`` for their frames and eu-stack unnamed pcs. Live, we open the very file the process maps
through /proc/PID/map_files; for a core, the file is looked for at its path without the suffix
(and, as every candidate, must match the build-id the core recorded). A process in another mount
namespace (a container) maps paths that hold other files on the host: those fail the build-id
check, and the mapped file is read the same way.

The oracle is gdb's frames of a core written by gcore (or the kernel) while the file was at its path.
"""

import json
import os
import shutil
import subprocess

import pytest
from conftest import ROOT, SYS_PAUSE, kernel_core, wait_in_syscall, which

from dwarfunwind import Program

PROGRAM = r"""
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
__attribute__((noinline)) void NAME(inner)(int crash) {
    if (crash) abort();
    for (;;) pause();
}
__attribute__((noinline)) void NAME(outer)(int crash) { NAME(inner)(crash); __asm__ volatile(""); }
int main(int argc, char **argv) {
    int crash = argc > 1 && strcmp(argv[1], "crash") == 0;
    if (crash) {  /* the file goes away before the crash: the core's NT_FILE says "(deleted)" */
        char self[4096];
        ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
        if (n <= 0) return 2;
        self[n] = 0;
        if (unlink(self) != 0) return 3;
    }
    puts("ready");
    fflush(stdout);
    NAME(outer)(crash);
    return 0;
}
"""


def build(directory, name: str, prefix: str = "", *flags: str) -> str:
    """The program with functions ``PREFIXinner``/``PREFIXouter`` (another prefix: another build-id).
    Not partitioned: gdb names the cold part of inner ``inner`` (debug info), the symbol table ``inner.cold``."""
    src = directory / f"{name}.c"
    src.write_text(f"#define NAME(f) {prefix}##f\n" if prefix else "#define NAME(f) f\n")
    src.write_text(src.read_text() + PROGRAM)
    exe = directory / name
    subprocess.run([which("gcc"), "-O2", "-g", "-fomit-frame-pointer", "-fno-reorder-blocks-and-partition",
                    *flags, "-o", str(exe), str(src)], check=True)
    return str(exe)


def gdb_frames(exe: str, core) -> list[tuple[int, str | None]]:
    """gdb's physical frames of ``core`` with ``exe`` as (pc, function)."""
    out = core.parent / (core.name + ".gdb.json")
    env = {k: v for k, v in os.environ.items() if k != "DEBUGINFOD_URLS"}
    subprocess.run([which("gdb"), "-batch", "-nx", "-x", str(ROOT / "corpora" / "gdb_frames.py"), exe, str(core)],
                   env=dict(env, GDB_FRAMES_OUT=str(out)), capture_output=True, timeout=120, check=True)
    (thread,) = json.loads(out.read_text())["threads"]
    return [(f["pc"], f["function"]) for f in thread["frames"]]


def live_gdb_frames(proc: subprocess.Popen, exe: str, directory) -> list[tuple[int, str | None]]:
    """gdb's frames of the running program (once it waits in pause()), from a core gcore writes
    while the file is still at its path; gdb is given ``exe``. The process runs on."""
    assert proc.stdout is not None and proc.stdout.readline() == b"ready\n"
    wait_in_syscall(proc.pid, SYS_PAUSE)
    core = directory / "core"
    subprocess.run([which("gdb"), "-batch", "-nx", "-p", str(proc.pid), "-ex", f"gcore {core}"],
                   capture_output=True, timeout=120, stdin=subprocess.DEVNULL)
    if not core.exists():
        pytest.fail("gdb could not write a core of the running program")
    theirs = gdb_frames(exe, core)
    assert [f for _, f in theirs[1:3]] == ["inner", "outer"], theirs  # the oracle itself
    return theirs


def same_frames(trace, theirs: list[tuple[int, str | None]], exe: str) -> None:
    """Our frames are gdb's, pc for pc, and named as gdb names them in ``exe`` (elsewhere gdb's names
    come from libc's debug info, ``__libc_pause`` for our symbol table's ``pause``)."""
    assert [f.pc for f in trace.frames] == [pc for pc, _ in theirs[: len(trace.frames)]]
    mine = [(f.pc, f.function) for f in trace.frames if f.module is not None and f.module.path.startswith(exe)]
    assert len(mine) >= 4 and set(mine) <= set(theirs), (mine, theirs)


@pytest.mark.parametrize("how", ["unlinked", "replaced"])
def test_live_process_whose_executable_is_gone(tmp_path, how):
    if os.geteuid() != 0:
        pytest.skip("/proc/PID/map_files can be opened only with CAP_SYS_ADMIN (run as root)")
    exe = build(tmp_path, "victim")
    proc = subprocess.Popen([exe], stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)
    try:
        theirs = live_gdb_frames(proc, exe, tmp_path)
        if how == "unlinked":
            os.unlink(exe)
        else:  # a package upgrade: another build renamed over the path (its build-id and names differ)
            os.rename(build(tmp_path, "victim.new", prefix="new_"), exe)
        with Program.from_pid(proc.pid) as program:
            (trace,) = program.stack_traces()
            same_frames(trace, theirs, exe)
            assert trace.frames[-1].function == "_start" and len(trace.frames) >= 6
            module = trace.frames[1].module
            assert module is not None and module.path == f"{exe} (deleted)"
            assert module.file_path is not None and "/map_files/" in module.file_path
            assert not program.problems  # nothing to say: every module's file was found
        assert proc.poll() is None, "the process must be left running"
    finally:
        proc.kill()
        proc.wait()


def test_core_whose_executable_was_deleted_then_restored(tmp_path):
    """The core names ``PATH (deleted)``; the same build back at PATH is found (its build-id matches)."""
    exe = build(tmp_path, "victim")
    keep = tmp_path / "victim.keep"
    shutil.copy(exe, keep)
    core = kernel_core(tmp_path, [exe, "crash"])
    assert not os.path.exists(exe)
    with Program.from_core(str(core)) as program:  # file gone: said, and the walk stops in it
        (trace,) = program.stack_traces()
        assert any("victim (deleted)" in p and "not found" in p for p in program.problems)
    shutil.copy(keep, exe)
    theirs = gdb_frames(exe, core)
    assert ["inner", "outer", "main"] == [f for _, f in theirs if f in ("inner", "outer", "main")], theirs
    with Program.from_core(str(core)) as program:
        (trace,) = program.stack_traces()
        same_frames(trace, theirs, exe)
        assert trace.frames[-1].function == "_start"
        assert trace.frames[-1].module.path == f"{exe} (deleted)"
        assert trace.frames[-1].module.file_path == exe


@pytest.mark.parametrize("build_id", [True, False], ids=["build-id", "no-build-id"])
def test_live_process_in_another_mount_namespace(tmp_path, build_id):
    """A container's view: the path the process maps holds another build on the host (a bind mount in
    its own mount namespace). The file is read as the process sees it, through /proc/PID/root, first:
    without build-ids (Go programs have none) nothing else could tell the host's file is another."""
    if os.geteuid() != 0:
        pytest.skip("mount namespaces and /proc/PID/map_files need root")
    unshare = which("unshare")
    flags = () if build_id else ("-Wl,--build-id=none",)
    real = build(tmp_path, "victim.real", "", *flags)
    shown = build(tmp_path, "victim", "host_", *flags)  # what the host has at the path the process maps
    proc = subprocess.Popen([unshare, "-m", "--propagation", "private", "sh", "-c",
                             f"mount --bind {real} {shown} && exec {shown}"],
                            stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)
    try:
        theirs = live_gdb_frames(proc, real, tmp_path)  # gdb told which file the process really runs
        with Program.from_pid(proc.pid) as program:
            (trace,) = program.stack_traces()
            same_frames(trace, theirs, shown)
            assert trace.frames[1].module.path == shown
            assert trace.frames[1].module.file_path == f"/proc/{proc.pid}/root{shown}"
            assert not program.problems
        assert proc.poll() is None, "the process must be left running"
    finally:
        proc.kill()
        proc.wait()
