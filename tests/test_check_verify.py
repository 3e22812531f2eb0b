"""``unwind --verify``: a frame whose CFI row ``check`` finds wrong is marked, and the trace is not reliable.

Demonstration on a program whose assembly stub (tests/check_verify/broken_stub.S) misses one
``.cfi_adjust_cfa_offset`` and then calls abort(): gdb writes the core (``gcore``), the DWARF
walk goes wrong above the stub (it takes the saved rbx for the return address), and
``--verify`` names the stub's frame. Built with -DGOOD the CFI is right: nothing is marked and
the walk reaches main.
"""
import json
import os
import subprocess
import sys

import pytest
from conftest import ROOT

SRC = ROOT / "tests" / "check_verify"


def _core(tmp_path, need_tool, good: bool):
    gcc = need_tool("gcc")
    gdb = need_tool("gdb")
    exe = tmp_path / ("good" if good else "bad")
    cmd = [gcc, "-g", "-O1", "-o", str(exe), str(SRC / "main.c"), str(SRC / "broken_stub.S")]
    if good:
        cmd.insert(1, "-DGOOD")
    subprocess.run(cmd, check=True, capture_output=True)
    core = tmp_path / f"{exe.name}.core"
    subprocess.run([gdb, "-batch", "-nx", "-ex", "run", "-ex", f"gcore {core}", str(exe)], capture_output=True,
                   cwd=tmp_path, timeout=120)
    if not core.exists():
        pytest.fail("gdb did not write a core")
    return exe, core


def _unwind(*args):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "dwarfunwind", "unwind", *map(str, args)], capture_output=True,
                          text=True, env=env, timeout=120)


def test_verify_marks_the_frame_whose_cfi_is_wrong(tmp_path, need_tool):
    exe, core = _core(tmp_path, need_tool, good=False)
    p = _unwind(core, "--exe", exe, "--verify", "--json")
    assert p.returncode == 1
    doc = json.loads(p.stdout)
    (thread,) = doc["threads"]
    marked = {m["frame"] for m in doc["verify"]}
    stub = [f["index"] for f in thread["frames"] if f["function"] == "broken_stub"]
    assert stub and marked == set(stub)
    assert "broken_stub" in p.stderr and "not reliable" in p.stderr
    # The walk above the stub is garbage: main is not found.
    assert not any(f["function"] == "main" for f in thread["frames"])


def test_verify_marks_nothing_when_the_cfi_is_right(tmp_path, need_tool):
    exe, core = _core(tmp_path, need_tool, good=True)
    p = _unwind(core, "--exe", exe, "--verify", "--json")
    doc = json.loads(p.stdout)
    assert doc["verify"] == []
    (thread,) = doc["threads"]
    assert any(f["function"] == "main" for f in thread["frames"])
    assert "check finds" not in p.stderr
