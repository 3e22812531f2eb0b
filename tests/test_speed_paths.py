"""The fast paths keep their answers when their bounds are hit, held against readelf.

The interpreter shares interned rules and canonical register states through bounded
tables, ``CFISection.entries`` decodes the common .eh_frame FDE inline, and the walk reads
memory in place, through a page cache or through ``read_memory``. Each has a slow path
taken past a bound (tables full) or on unusual input; these tests force the slow paths and
compare with readelf (tests/oracles) and gdb (the corpus oracles).
"""

from __future__ import annotations

import json
import os
import re
import subprocess

import pytest
from oracles import diff_file

from dwarfunwind.cfi import program
from dwarfunwind.cfi.program import row_table
from dwarfunwind.cfi.sections import CFISection
from dwarfunwind.elf.module import ElfFile
from dwarfunwind.report import fde_json

LIBC = "/lib/x86_64-linux-gnu/libc.so.6"
LD_SO = "/lib64/ld-linux-x86-64.so.2"
LIBSTDCXX = "/usr/lib/x86_64-linux-gnu/libstdc++.so.6"


def _listing(path: str) -> dict:
    """``cfi --json`` of ``path`` built in this process (so that a test can bound the tables first)."""
    elf = ElfFile.open(path)
    sections = []
    for section in elf.cfi_sections():
        errors: list = []
        fdes = [json.loads(fde_json(fde, row_table(fde))) for fde in section.fdes(errors)]
        assert not errors, errors[:3]
        sections.append({"name": section.name, "fdes": fdes})
    return {"file": path, "sections": sections}


def _assert_matches_readelf(path: str, ours: dict) -> None:
    r = diff_file(path, ours)
    if r.skipped:
        pytest.skip(f"{path}: {r.skipped}")
    assert r.fdes > 0
    assert not r.mismatches, [str(m) for m in r.mismatches[:10]]


@pytest.fixture
def _need_file():
    def need(path: str) -> str:
        if not os.path.exists(path):
            pytest.skip(f"{path} is not on this machine")
        return path
    return need


@pytest.mark.parametrize("bound", ["tables full", "no canonical set over one rule"])
def test_bounded_sharing_gives_the_same_rows(bound, monkeypatch, need_tool, _need_file):
    """With the interning tables already full, or with every set of two rules or more private to
    its run (changed in place, copied into rows), the rows still equal readelf's."""
    need_tool("readelf")
    path = _need_file(LD_SO)
    for name, table in (("_OFFSET_RULES", {}), ("_CFA_RULES", {}), ("_TRANSITIONS", {}),
                        ("_OFFSET_TRANSITIONS", {}), ("_STATES", {(): program._EMPTY})):
        monkeypatch.setattr(program, name, table)
    if bound == "tables full":
        monkeypatch.setattr(program, "_MAX_INTERNED", 0)
        monkeypatch.setattr(program, "_MAX_STATES", 1)
        monkeypatch.setattr(program, "_MAX_TRANSITIONS", 0)
    else:
        monkeypatch.setattr(program, "_MAX_CANONICAL_RULES", 1)
    ours = _listing(path)
    if bound == "tables full":
        assert len(program._STATES) == 1 and not program._TRANSITIONS and not program._CFA_RULES
    else:
        assert all(len(state) <= 1 for state in program._STATES.values())
    _assert_matches_readelf(path, ours)


def test_inline_fde_decoding_matches_readelf(need_tool, _need_file):
    """FDEs decoded inline (libstdc++: many with an LSDA) have readelf's offsets, CIEs and pc ranges,
    and the same fields as the general path (fde_at) gives them."""
    readelf = need_tool("readelf")
    path = _need_file(LIBSTDCXX)
    section = next(s for s in ElfFile.open(path).cfi_sections() if s.name == ".eh_frame")
    inline = list(section.fdes())
    out = subprocess.run([readelf, "--debug-dump=frames", path], capture_output=True, text=True).stdout
    theirs = [(int(m[1], 16), int(m[2], 16), int(m[3], 16), int(m[4], 16)) for m in re.finditer(
        r"^([0-9a-f]+) [0-9a-f]+ [0-9a-f]+ FDE cie=([0-9a-f]+) pc=([0-9a-f]+)\.\.([0-9a-f]+)$", out, re.M)]
    assert len(inline) > 1000 and sum(f.lsda is not None for f in inline) > 100
    assert [(f.offset, f.cie.offset, f.pc_begin, f.pc_end) for f in inline] == theirs
    fresh = CFISection(section.name, section.data, section.address)
    fields = ("offset", "pc_begin", "pc_range", "instructions", "lsda", "section", "instructions_address")
    for fde in inline:
        general = fresh._fde_at(fde.offset)
        assert [getattr(fde, f) for f in fields] == [getattr(general, f) for f in fields]


class _Through:
    """A core seen only through ``read_memory`` (no in-place access), optionally page-cached."""

    def __init__(self, inner, cache_pages: bool) -> None:
        self.inner = inner
        self.name = inner.name
        self.reads: list[tuple[int, int]] = []
        if cache_pages:
            self.cache_pages = True  # set on the instance: the unwinder only honours it on the class

    def read_memory(self, address: int, size: int) -> bytes:
        self.reads.append((address, size))
        return self.inner.read_memory(address, size)

    def threads(self):
        return self.inner.threads()

    def mappings(self):
        return self.inner.mappings()

    def close(self) -> None:
        self.inner.close()


class _Paged(_Through):
    cache_pages = True


PROGRAMS = ["c_threads", "c_segv_handler_altstack", "c_realign", "cxx_throw", "entry_marker", "sigsegv_glibc"]


@pytest.mark.parametrize("name", PROGRAMS)
def test_every_memory_path_gives_gdbs_frames(corpus, name):
    """In place from the core, page-cached, and read by read_memory alone: each walk has gdb's frames."""
    from dwarfunwind import Program
    from dwarfunwind.unwind.engine import Unwinder

    builder, out = corpus
    paths = builder.artifacts(name, out)
    oracle = json.loads(paths["oracle"].read_text())
    want = {t["tid"]: [(f["pc"], f["registers"].get("rsp")) for f in t["frames"]] for t in oracle["threads"]}
    with Program.from_core(str(paths["core"]), exe=str(paths["binary"])) as program:
        direct = Unwinder(program.target, program.modules)
        paged = _Paged(program.target, False)
        plain = _Through(program.target, True)
        for target in (program.target, paged, plain):
            walker = direct if target is program.target else Unwinder(target, program.modules)
            got = {t.thread.tid: [(f.pc, f.registers.get(7)) for f in t.frames] for t in walker.unwind()}
            assert got == want, type(target).__name__
        assert any(size == 4096 and address % 4096 == 0 for address, size in paged.reads)  # pages were cached
        assert all(size != 4096 for _, size in plain.reads)


def test_unwind_json_streamed_in_chunks_is_json_dumps_of_the_document(corpus):
    """``unwind --json`` written thread by thread is the text json.dumps gives for the whole document."""
    from dwarfunwind import Program
    from dwarfunwind.report import trace_to_dict, traces_json

    builder, out = corpus
    paths = builder.artifacts("c_threads", out)
    with Program.from_core(str(paths["core"]), exe=str(paths["binary"])) as program:
        dwarf = program.stack_traces()
        fp = program.stack_traces(method="fp")
    whole = json.dumps({"threads": [trace_to_dict(t) for t in dwarf],
                        "fp_threads": [trace_to_dict(t) for t in fp]}) + "\n"
    chunks = list(traces_json(dwarf, fp, chunk_size=64))
    assert len(chunks) > len(dwarf) and "".join(chunks) == whole
    assert "".join(traces_json(dwarf)) == json.dumps({"threads": [trace_to_dict(t) for t in dwarf]}) + "\n"
