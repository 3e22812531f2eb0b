"""Shared test fixtures.

``tests/`` is put on sys.path so that tests and tools can ``import oracles``.
Tests that need an external oracle (readelf, gdb, ...) skip with a clear
reason where it is missing; CI sets DWARFUNWIND_REQUIRE_ORACLES=1, which turns
those skips into failures so that nothing is silently skipped there.
"""
import importlib.util
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

_TESTS = os.path.dirname(os.path.abspath(__file__))
if _TESTS not in sys.path:
    sys.path.insert(0, _TESTS)

ROOT = Path(_TESTS).parent
REQUIRE = os.environ.get("DWARFUNWIND_REQUIRE_ORACLES") == "1"


def missing(reason: str) -> None:
    """Skip (or, in CI, fail) because an oracle or tool is missing."""
    if REQUIRE:
        pytest.fail(f"{reason} (DWARFUNWIND_REQUIRE_ORACLES=1: CI must install it)")
    pytest.skip(reason)


def which(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        missing(f"{name} not found on PATH")
    return path  # type: ignore[return-value]


@pytest.fixture(scope="session")
def need_tool():
    """need_tool("readelf") -> absolute path, or skip the test with a clear reason."""
    return which


def _unlimited_core() -> None:
    import resource

    resource.setrlimit(resource.RLIMIT_CORE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))


def kernel_core(directory: Path, argv: list, timeout: float = 60) -> Path:
    """Run ``argv`` in ``directory`` with RLIMIT_CORE unlimited until it dies; the core the kernel
    wrote there, or skip when it writes none (kernel.core_pattern is not "core")."""
    core = Path(directory) / "core"
    if core.exists():
        core.unlink()
    subprocess.run(argv, cwd=directory, preexec_fn=_unlimited_core, capture_output=True, timeout=timeout)
    if not core.exists():
        pytest.skip("the kernel wrote no core here (core_pattern is not 'core')")
    return core


def wait_in_syscall(pid: int, number: int, timeout: float = 30) -> None:
    """Wait until process ``pid`` sleeps in system call ``number`` (``/proc/PID/syscall``): a program
    that printed "ready" may still be inside write() when the test looks at its stack."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/syscall") as f:
                if f.read().split(" ", 1)[0] == str(number):
                    return
        except OSError:
            pass
        time.sleep(0.01)
    pytest.fail(f"pid {pid} did not reach system call {number} in {timeout} s")


#: x86-64 system call numbers the tests' programs wait in.
SYS_PAUSE = 34


def load_corpus_builder():
    """corpora/build.py as a module (it is a script, not part of the package)."""
    spec = importlib.util.spec_from_file_location("corpus_build", ROOT / "corpora" / "build.py")
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    sys.modules["corpus_build"] = module
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


@pytest.fixture(scope="session")
def corpus(tmp_path_factory):
    """Every corpus program built at test time, with its core and gdb's view of it.

    Returns (builder module, output directory). Built once per session (~10 s).
    """
    which("gcc")
    which("g++")
    which("gdb")
    builder = load_corpus_builder()
    out = Path(os.environ.get("DWARFUNWIND_CORPUS_DIR") or tmp_path_factory.mktemp("corpus"))
    builder.build(None, out, cores=True)
    if shutil.which("eu-stack"):
        builder.write_eu_stack(list(builder.PROGRAMS), out)
    return builder, out
