"""Hostile inputs for the targets (tests/hostile/target_gen.py), each run through the CLI in a subprocess
under RLIMIT_AS 1 GB and a 30 s wall limit: it must end in time, below 300 MB peak RSS, with a clear
one-line message and no traceback, and the output before any budget ran out must still be there.

Oracles: the kernel (RLIMIT_AS, ru_maxrss of the child, stat() of the files --save must not replace),
and the inputs' own construction (frame counts the generated stacks imply).
"""
from __future__ import annotations

import os
import resource
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from hostile import target_gen

ROOT = Path(__file__).resolve().parent.parent
LIMIT_AS = 1 << 30
MAX_RSS_KB = 300 * 1024


def _limits() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (LIMIT_AS, LIMIT_AS))


#: Runs the CLI as ``python -m dwarfunwind`` would, and writes its own peak RSS (KB) to argv[1] at exit.
#: VmHWM, not ru_maxrss: Linux carries the parent's RSS at fork into the child's ru_maxrss across exec.
_HWM = "int(open('/proc/self/status').read().split('VmHWM:')[1].split()[0])"
_WRAPPER = ("import atexit, runpy, sys\n"
            "out = sys.argv[1]\n"
            f"atexit.register(lambda: open(out, 'w').write(str({_HWM})))\n"
            "sys.argv = ['dwarfunwind'] + sys.argv[2:]\n"
            "runpy.run_module('dwarfunwind', run_name='__main__')\n")


def run_cli(*args: str, env: dict | None = None) -> tuple[subprocess.CompletedProcess, int]:
    """The CLI under the limits; (result, peak RSS of that process in KB, /proc/self/status VmHWM)."""
    import tempfile

    with tempfile.NamedTemporaryFile("r", suffix=".rss") as rss:
        r = subprocess.run([sys.executable, "-c", _WRAPPER, rss.name, *args], capture_output=True, text=True,
                           errors="replace", timeout=30, preexec_fn=_limits, cwd=ROOT,
                           env=dict(os.environ, PYTHONPATH=str(ROOT), **(env or {})))
        peak = rss.read().strip()
    assert peak, f"the CLI did not exit normally: {r.returncode} {r.stderr[-2000:]}"
    return r, int(peak)


def assert_clean(r: subprocess.CompletedProcess, rss_kb: int) -> None:
    assert "Traceback" not in r.stderr, r.stderr[-2000:]
    assert rss_kb < MAX_RSS_KB, f"peak RSS {rss_kb} KB"
    for line in r.stderr.splitlines():
        assert line.startswith("dwarfunwind: ") and len(line) < 2000, line[:300]


@pytest.fixture(scope="module")
def hostile(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("hostile")


def test_thousand_threads_sharing_one_stack_stay_bounded(hostile):
    """1,000 threads x 16,000 frame-pointer frames each: the total frame budget ends it, every thread served."""
    core = target_gen.make_threads_shared_stack(hostile)
    r, rss = run_cli("unwind", str(core), "--json")
    assert_clean(r, rss)
    assert r.returncode == 1
    import json

    threads = json.loads(r.stdout)["threads"]
    assert len(threads) == 1000  # every thread is still there, each with at least its first frame
    assert all(t["frames"] for t in threads)
    assert threads[0]["stop_reason"] == "frame-limit" and len(threads[0]["frames"]) == 4096
    assert any("budget" in t["stop_detail"] for t in threads)
    # --save walks each thread again only as far as its trace went: still bounded.
    r, rss = run_cli("unwind", str(core), "--save", str(hostile / "threads.snap"))
    assert_clean(r, rss)
    assert r.returncode == 1 and (hostile / "threads.snap").is_file()


def test_sparse_gigabyte_file_note(hostile):
    """A 1 GiB NT_FILE note (a hole): never copied or split; a clear line, no traceback, bounded memory."""
    core = target_gen.make_sparse_file_note(hostile)
    r, rss = run_cli("unwind", str(core))
    assert_clean(r, rss)
    assert r.returncode in (1, 2) and r.stderr.strip()


def test_sparse_file_note_in_the_library_is_read_in_place(hostile):
    """Without an address-space limit the note is parsed lazily: a bad entry is said once, the core is served."""
    core = target_gen.make_sparse_file_note(hostile)
    code = ("import dwarfunwind\n"
            f"p = dwarfunwind.Program.from_core({str(core)!r})\n"
            "t = p.stack_traces(); print(len(t[0].frames)); print('|'.join(p.problems))\n"
            f"print({_HWM})\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30,
                       env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert r.returncode == 0, r.stderr
    frames, problems, rss = r.stdout.splitlines()
    assert int(frames) == 1 and "NT_FILE note" in problems and "entries" in problems
    assert int(rss) < MAX_RSS_KB


def test_save_of_a_terabyte_vdso_ends_quickly(hostile, tmp_path):
    core = target_gen.make_huge_vdso(hostile)
    out = tmp_path / "snap"
    r, rss = run_cli("unwind", str(core), "--save", str(out))
    assert_clean(r, rss)
    assert "too large for a vDSO" in r.stderr
    assert out.is_file()
    r2, rss2 = run_cli("unwind", str(out))
    assert_clean(r2, rss2)
    assert "Thread 1" in r2.stdout


def _fingerprint(path: str) -> tuple[int, int, int]:
    st = os.stat(path)
    return st.st_mode, st.st_ino, st.st_rdev


@pytest.mark.parametrize("kind", ["fifo", "directory", "chardev", "missing-dir", "regular", "symlink"])
def test_save_never_replaces_what_is_not_a_regular_file(hostile, tmp_path, kind):
    core = target_gen.make_huge_vdso(hostile)
    dest = tmp_path / "dest"
    if kind == "fifo":
        os.mkfifo(dest)
    elif kind == "directory":
        dest.mkdir()
    elif kind == "chardev":
        if os.geteuid() != 0:
            pytest.skip("mknod of a character device needs root")
        os.mknod(dest, stat.S_IFCHR | 0o666, os.makedev(1, 3))  # a private /dev/null
    elif kind == "missing-dir":
        dest = tmp_path / "no" / "such" / "dir"
    elif kind == "regular":
        dest.write_bytes(b"old")
    elif kind == "symlink":
        (tmp_path / "real").write_bytes(b"old")
        dest.symlink_to(tmp_path / "real")
    before = _fingerprint(str(dest)) if os.path.lexists(dest) else None
    r, rss = run_cli("unwind", str(core), "--save", str(dest))
    assert_clean(r, rss)
    if kind in ("regular", "symlink"):
        assert r.returncode == 1 and "Thread 1" in r.stdout
        real = tmp_path / "real" if kind == "symlink" else dest
        assert real.read_bytes().startswith(b"DWUNSNAP")
        if kind == "symlink":
            assert dest.is_symlink()  # the link stays; the file it names was replaced
        return
    assert r.returncode == 2
    errors = [line for line in r.stderr.splitlines() if str(dest) in line]
    assert len(errors) == 1, r.stderr
    if before is not None:
        assert _fingerprint(str(dest)) == before  # the same node, not replaced


def test_odd_and_undecodable_paths_print(hostile):
    """Latin-1 bytes and an escape sequence in NT_FILE names come out escaped, whatever stdout's encoding."""
    core = target_gen.make_odd_paths(hostile)
    for encoding in ("utf-8", "ascii"):
        r, rss = run_cli("unwind", str(core), env={"PYTHONIOENCODING": encoding})
        assert_clean(r, rss)
        assert r.returncode == 1
        assert "lib\\xff.so" in r.stdout and "caf\\xe9" in r.stderr
        assert "\x1b" not in r.stdout + r.stderr


def test_fifo_named_by_a_core_is_never_opened(hostile):
    core, fifo = target_gen.make_fifo_module(hostile)
    r, rss = run_cli("unwind", str(core))
    assert_clean(r, rss)
    assert r.returncode == 1 and "FIFO" in r.stderr
    # As the core itself, as --exe and as --sysroot's file: a message, never a blocked open().
    r, rss = run_cli("unwind", str(fifo))
    assert_clean(r, rss)
    assert r.returncode == 2 and "FIFO" in r.stderr
    r, rss = run_cli("unwind", str(core), "--exe", str(fifo))
    assert_clean(r, rss)
    assert "FIFO" in r.stderr or "not a regular file" in r.stderr


def test_snapshot_register_key_that_isdigit_but_not_int(hostile):
    snap = target_gen.make_snapshot_superscript(hostile)
    r, rss = run_cli("unwind", str(snap))
    assert_clean(r, rss)
    assert r.returncode == 2 and "register number" in r.stderr


def test_snapshot_path_with_lone_surrogates_prints(hostile):
    snap = target_gen.make_snapshot_surrogates(hostile)
    for encoding in ("utf-8", "ascii"):
        r, rss = run_cli("unwind", str(snap), env={"PYTHONIOENCODING": encoding})
        assert_clean(r, rss)
        assert r.returncode == 1 and "\\ud800bad\\xff.so" in r.stdout


def test_sysroot_that_does_not_exist_is_an_error(hostile):
    core = target_gen.make_odd_paths(hostile)
    r, rss = run_cli("unwind", str(core), "--sysroot", str(hostile / "nowhere"))
    assert_clean(r, rss)
    assert r.returncode == 2 and "--sysroot" in r.stderr and "No such file" in r.stderr
