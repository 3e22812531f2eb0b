"""An expression bomb in a live process: the per-walk budget ends the walk, and the target runs on.

The program (built at test time) recurses 4,000 deep through an assembly function whose CFI gives
15 registers a DW_CFA_val_expression rule, each a ~9,600-step DW_OP_bra countdown (the same
expression as tests/hostile/cfi_make.py's), then spins. Without a budget per walk that is
hundreds of millions of steps with the target stopped; with it, the walk stops after a few
frames, says which budget ran out, and the process is left running and untraced (the kernel's
/proc/PID/status is the oracle).
"""
import importlib.util
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
_spec = importlib.util.spec_from_file_location("cfi_make", HERE / "hostile" / "cfi_make.py")
make = importlib.util.module_from_spec(_spec)  # type: ignore[arg-type]
_spec.loader.exec_module(make)  # type: ignore[union-attr]

MAIN = r"""
#include <stdio.h>
void bomb(long depth);
int main(void) { printf("ready\n"); fflush(stdout); bomb(4000); return 0; }
"""


def _asm() -> str:
    expr = make.countdown(2399)
    rules = []
    for reg in [r for r in range(16) if r != 7][:15]:  # every GPR but rsp
        body = bytes([0x16]) + make.uleb(reg) + make.uleb(len(expr)) + expr
        rules.append("    .cfi_escape " + ", ".join(f"{b:#x}" for b in body))
    return "\n".join([
        "    .text", "    .globl bomb", "    .type bomb, @function", "bomb:",
        "    .cfi_startproc",
        "    sub $8, %rsp",
        "    .cfi_def_cfa_offset 16",
        *rules,
        "    test %rdi, %rdi",
        "    jz 1f",
        "    dec %rdi",
        "    call bomb",
        "1:  jmp 1b",
        "    .cfi_endproc", "    .size bomb, .-bomb",
        '    .section .note.GNU-stack,"",@progbits', ""])


def _status(pid: int) -> tuple[str, list[int]]:
    state = re.search(r"^State:\s+(\S)", Path(f"/proc/{pid}/status").read_text(), re.M).group(1)
    tracers = [int(re.search(r"^TracerPid:\s+(\d+)", (t / "status").read_text(), re.M).group(1))
               for t in Path(f"/proc/{pid}/task").iterdir()]
    return state, tracers


def test_expression_bomb_in_a_live_process(tmp_path, need_tool):
    gcc = need_tool("gcc")
    (tmp_path / "main.c").write_text(MAIN)
    (tmp_path / "bomb.S").write_text(_asm())
    exe = tmp_path / "bomb"
    subprocess.run([gcc, "-O1", "-o", str(exe), str(tmp_path / "main.c"), str(tmp_path / "bomb.S")],
                   check=True, capture_output=True)
    proc = subprocess.Popen([str(exe)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(0.3)  # deep in the recursion, spinning
        t0 = time.monotonic()
        r = subprocess.run([sys.executable, "-m", "dwarfunwind", "unwind", "--pid", str(proc.pid)],
                           capture_output=True, text=True, timeout=60,
                           env=dict(os.environ, PYTHONPATH=str(ROOT)))
        seconds = time.monotonic() - t0
        assert "Traceback" not in r.stderr, r.stderr
        assert r.returncode == 1, (r.returncode, r.stdout, r.stderr)
        frames = [line for line in r.stdout.splitlines() if line.startswith("#")]
        assert len(frames) >= 2 and all("bomb" in f for f in frames), r.stdout
        stop = [line for line in r.stdout.splitlines() if "stop:" in line]
        assert len(stop) == 1 and "budget expression_steps" in stop[0], r.stdout
        assert seconds < 30, seconds
        state, tracers = _status(proc.pid)
        assert proc.poll() is None and state == "R" and tracers == [0], (state, tracers)
        before = int(Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()[11])
        time.sleep(0.2)
        after = int(Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()[11])
        assert after > before, "the target is not running after the walk"
    finally:
        proc.kill()
        proc.wait()


if not sys.platform.startswith("linux"):  # pragma: no cover
    pytestmark = pytest.mark.skip("live processes: Linux only")
