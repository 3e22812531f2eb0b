"""Hostile inputs for the targets (cores, snapshots, --save), generated here rather than committed.

    python3 tests/hostile/target_gen.py OUTDIR      # writes one file per attack class

Each ``make_*`` function writes one input and returns its path. The cores are
built from scratch (ELF header, PT_NOTE, PT_LOAD) so that no compiler is
needed; tests/test_targets_hostile.py runs the CLI on each under RLIMIT_AS.
"""

from __future__ import annotations

import json
import os
import struct
import sys
import zlib
from pathlib import Path

from dwarfunwind.arch.x86_64 import USER_REGS_SLOTS

NT_PRSTATUS, NT_PRPSINFO, NT_AUXV, NT_FILE = 1, 3, 6, 0x46494C45
PT_LOAD, PT_NOTE = 1, 4
PF_X, PF_W, PF_R = 1, 2, 4
STACK = 0x7FF000000000


def _note(name: bytes, ntype: int, desc: bytes) -> bytes:
    name += b"\0"
    pad = lambda b: b + b"\0" * (-len(b) % 4)  # noqa: E731
    return struct.pack("<III", len(name), len(desc), ntype) + pad(name) + pad(desc)


def prstatus(tid: int, regs: dict[str, int], signal: int = 11) -> bytes:
    desc = bytearray(336)
    struct.pack_into("<iiih", desc, 0, signal, 0, 0, signal)
    struct.pack_into("<i", desc, 32, tid)
    for i, name in enumerate(USER_REGS_SLOTS):
        struct.pack_into("<Q", desc, 112 + 8 * i, regs.get(name, 0))
    return _note(b"CORE", NT_PRSTATUS, bytes(desc))


def write_core(path: Path, notes: list[bytes], loads: list[tuple[int, int, bytes, int]],
               sparse_note: int = 0) -> Path:
    """An x86-64 ET_CORE: ``loads`` are (vaddr, memsz, data, flags); data shorter than memsz is not in the file.

    ``sparse_note``: bytes of zeros appended to the note segment as a hole (a sparse file).
    """
    phnum = 1 + len(loads)
    off = 64 + 56 * phnum
    note_blob = b"".join(notes)
    note_size = len(note_blob) + sparse_note
    phdrs = [struct.pack("<IIQQQQQQ", PT_NOTE, PF_R, off, 0, 0, note_size, 0, 1)]
    data_off = off + note_size
    data_off += -data_off % 4096
    body = []
    for vaddr, memsz, data, flags in loads:
        phdrs.append(struct.pack("<IIQQQQQQ", PT_LOAD, flags, data_off, vaddr, 0, len(data), memsz, 4096))
        body.append((data_off, data))
        data_off += len(data) + (-len(data) % 4096)
    ehdr = struct.pack("<16sHHIQQQIHHHHHH", b"\x7fELF\x02\x01\x01" + b"\0" * 9, 4, 62, 1, 0, 64, 0, 0, 64, 56,
                       phnum, 64, 0, 0)
    with open(path, "wb") as f:
        f.write(ehdr + b"".join(phdrs))
        f.write(note_blob)
        if sparse_note:
            f.seek(off + note_size - 1)
            f.write(b"\0")
        for o, data in body:
            f.seek(o)
            f.write(data)
    return path


def _fp_chain(base: int, size: int) -> bytes:
    """A stack whose rbp chain runs to its end: each 16-byte frame links to the next."""
    out = bytearray(size)
    for i in range(size // 16 - 1):
        struct.pack_into("<QQ", out, 16 * i, base + 16 * (i + 1), 0x1000 + i)
    return bytes(out)


def make_threads_shared_stack(out: Path, threads: int = 1000, stack: int = 256 << 10) -> Path:
    """1,000 threads whose rbp chains all run through one 256 KiB stack (16,000 frames each)."""
    regs = {"rip": 0x1000, "rsp": STACK, "rbp": STACK}
    notes = [prstatus(1000 + i, regs, 11 if i == 0 else 0) for i in range(threads)]
    return write_core(out / "target_threads_shared_stack.core", notes,
                      [(STACK, stack, _fp_chain(STACK, stack), PF_R | PF_W)])


def make_sparse_file_note(out: Path, size: int = 1 << 30) -> Path:
    """An NT_FILE note that claims 1 GiB (a hole in a sparse file) and as many entries as fit."""
    count = size // 24
    head = struct.pack("<QQ", count, 4096) + struct.pack("<QQQ", 0x400000, 0x401000, 0)
    desc_size = size
    note = struct.pack("<III", 5, desc_size, NT_FILE) + b"CORE\0\0\0\0" + head
    regs = {"rip": 0x1000, "rsp": STACK + 0x100, "rbp": 0}
    notes = [prstatus(1, regs), note]
    return write_core(out / "target_sparse_file_note.core", notes, [(STACK, 4096, b"\0" * 4096, PF_R | PF_W)],
                      sparse_note=desc_size - len(head))


def make_huge_vdso(out: Path) -> Path:
    """A core whose vDSO PT_LOAD claims 1 TiB with no bytes in the file (for --save)."""
    vdso = 0x600000000000
    auxv = struct.pack("<QQQQ", 33, vdso, 0, 0)
    regs = {"rip": vdso + 0x10, "rsp": STACK + 0x100, "rbp": 0}
    notes = [prstatus(1, regs), _note(b"CORE", NT_AUXV, auxv)]
    return write_core(out / "target_huge_vdso.core", notes,
                      [(vdso, 1 << 40, b"", PF_R | PF_X), (STACK, 4096, b"\0" * 4096, PF_R | PF_W)])


def make_odd_paths(out: Path) -> Path:
    """NT_FILE paths with Latin-1 bytes and a control character, mapped executable."""
    names = [b"/opt/caf\xe9/lib\xff.so", b"/tmp/esc\x1b[31mred.so"]
    entries = b"".join(struct.pack("<QQQ", 0x500000 + 0x10000 * i, 0x501000 + 0x10000 * i, 0)
                       for i in range(len(names)))
    desc = struct.pack("<QQ", len(names), 4096) + entries + b"".join(n + b"\0" for n in names)
    regs = {"rip": 0x500010, "rsp": STACK + 0x100, "rbp": 0}
    notes = [prstatus(1, regs), _note(b"CORE", NT_FILE, desc)]
    loads = [(0x500000 + 0x10000 * i, 0x1000, b"", PF_R | PF_X) for i in range(len(names))]
    return write_core(out / "target_odd_paths.core", notes, loads + [(STACK, 4096, b"\0" * 4096, PF_R | PF_W)])


def make_fifo_module(out: Path) -> tuple[Path, Path]:
    """A core whose executable mapping names a FIFO (relative to the core's directory), and the FIFO."""
    fifo = out / "target_fifo_lib.so"
    if not fifo.exists():
        os.mkfifo(fifo)
    name = b"./" + fifo.name.encode()
    desc = struct.pack("<QQ", 1, 4096) + struct.pack("<QQQ", 0x500000, 0x501000, 0) + name + b"\0"
    regs = {"rip": 0x500010, "rsp": STACK + 0x100, "rbp": 0}
    notes = [prstatus(1, regs), _note(b"CORE", NT_FILE, desc)]
    core = write_core(out / "target_fifo_module.core", notes,
                      [(0x500000, 0x1000, b"", PF_R | PF_X), (STACK, 4096, b"\0" * 4096, PF_R | PF_W)])
    return core, fifo


def strip_file_note(src: Path, dst: Path) -> int:
    """Copy core ``src`` to ``dst`` with each NT_FILE note's type rewritten (as cores without one); how many."""
    data = bytearray(Path(src).read_bytes())
    phoff, phentsize, phnum = struct.unpack_from("<Q", data, 32)[0], *struct.unpack_from("<HH", data, 54)
    n = 0
    for i in range(phnum):
        ptype, _, offset, _, _, filesz = struct.unpack_from("<IIQQQQ", data, phoff + i * phentsize)
        pos, end = offset, offset + filesz
        while ptype == PT_NOTE and pos + 12 <= end:
            namesz, descsz, ntype = struct.unpack_from("<III", data, pos)
            if ntype == NT_FILE:
                struct.pack_into("<I", data, pos + 8, 0x46494C00)
                n += 1
            pos = ((((pos + 12 + namesz + 3) & ~3) + descsz) + 3) & ~3
    Path(dst).write_bytes(data)
    return n


def _snapshot(path: Path, header: dict, data: bytes = b"") -> Path:
    header = dict(header, data_size=len(data), data_crc32=zlib.crc32(data))
    raw = json.dumps(header).encode()
    path.write_bytes(b"DWUNSNAP" + struct.pack("<III", 1, len(raw), zlib.crc32(raw)) + raw + data)
    return path


def make_snapshot_superscript(out: Path) -> Path:
    """A snapshot whose register key is "²": str.isdigit() says yes, int() says no."""
    return _snapshot(out / "target_snapshot_superscript.snap", {
        "threads": [{"tid": 1, "registers": {"\u00b2": "0x1", "16": "0x1000"}}], "mappings": [], "ranges": []})


def make_snapshot_surrogates(out: Path) -> Path:
    """A snapshot whose executable mapping path holds lone surrogates (legal in JSON)."""
    return _snapshot(out / "target_snapshot_surrogates.snap", {
        "threads": [{"tid": 1, "registers": {"16": "0x500010", "7": "0x7ff000000100"}}],
        "mappings": [{"start": "0x500000", "end": "0x501000", "offset": 0, "perms": "r-x",
                      "path": "/lib/\ud800bad\udcff.so"}],
        "ranges": []})


GENERATORS = [make_threads_shared_stack, make_sparse_file_note, make_huge_vdso, make_odd_paths, make_fifo_module,
              make_snapshot_superscript, make_snapshot_surrogates]


def main(argv: list[str]) -> int:
    out = Path(argv[1] if len(argv) > 1 else "hostile-out")
    out.mkdir(parents=True, exist_ok=True)
    for make in GENERATORS:
        print(make(out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
