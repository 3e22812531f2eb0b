"""Mutation testing of ``check`` on real CFI (the system's own libraries, as the toolchain wrote them).

One change per mutant in a real FDE's instruction bytes (a ``def_cfa_offset`` off by 8, or a
``DW_CFA_offset`` rule dropped); only FDEs that check clean and checkable throughout are
mutated. The oracle is the mutation itself: a mutant whose rows differ at an instruction the
checker visited must be flagged. Goal: at least 95 % of those. The default run takes a
small sample of libc; ``tox -e check-slow`` (DWARFUNWIND_SLOW=1) mutates every FDE of libc,
libstdc++ and libm.
"""
import os

import pytest

from dwarfunwind.check.mutation import mutate, mutation_sites, run_mutations


def _loaded(name: str) -> str | None:
    """The path of a shared library this very process has mapped (so it exists on any host)."""
    with open("/proc/self/maps") as f:
        for line in f:
            path = line.split()[-1]
            if os.path.basename(path).startswith(name):
                return path
    return None


def _library(name: str) -> str:
    path = _loaded(name)
    if path is None:
        for d in ("/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/usr/lib64", "/lib64"):
            cands = [p for p in os.listdir(d) if p.startswith(name)] if os.path.isdir(d) else []
            if cands:
                return os.path.join(d, sorted(cands)[0])
        pytest.skip(f"{name} not found")
    return path


def test_mutation_sites_change_exactly_one_instruction():
    # DW_CFA_advance_loc 1; DW_CFA_def_cfa_offset 16; DW_CFA_offset r6, 2; DW_CFA_nop
    code = bytes([0x41, 0x0E, 16, 0x86, 2, 0x00])
    sites = list(mutation_sites(code))
    assert sites == [("cfa-offset", 1), ("drop-rule", 3)]
    assert mutate(code, "cfa-offset", 1) == bytes([0x41, 0x0E, 24, 0x86, 2, 0x00])
    assert mutate(code, "drop-rule", 3) == bytes([0x41, 0x0E, 16, 0x00, 0x00, 0x00])


def test_mutants_of_libc_are_detected():
    result = run_mutations(_library("libc.so"), max_fdes=60, seed=1)
    assert result.visible >= 100, "too few mutants to measure"
    assert result.rate >= 0.95, (result.rate, result.missed[:10])


@pytest.mark.slow
@pytest.mark.skipif(os.environ.get("DWARFUNWIND_SLOW") != "1", reason="long run: tox -e check-slow")
@pytest.mark.parametrize("name", ["libc.so", "libstdc++.so", "libm.so"])
def test_mutants_of_whole_libraries_are_detected(name):
    result = run_mutations(_library(name))
    print(f"{name}: {result.fdes} FDEs, {result.mutants} mutants, {result.visible} visible, "
          f"{result.detected} detected ({result.rate:.1%}); missed in fragments: "
          f"{sum(1 for m in result.missed if m[3])}")
    assert result.rate >= 0.95
