#!/usr/bin/env python3
"""Hostile CFI and ELF inputs, generated (never committed as blobs): one per attack class of issue 13.

    python3 tests/hostile/cfi_make.py OUTDIR      # writes every file below into OUTDIR

Each ``make_*`` function returns the bytes of one file (or writes a special file) and says in its
docstring what it attacks and what a bounded reader must do with it. tests/test_cfi_hostile.py runs
the CLI on each under RLIMIT_AS 1 GiB and a 30 s wall limit.
"""
from __future__ import annotations

import json
import os
import struct
import sys
import zlib

EM_X86_64, EM_AARCH64 = 62, 183
ET_REL, ET_DYN = 1, 3
SHT_PROGBITS, SHT_SYMTAB, SHT_STRTAB, SHT_RELA = 1, 2, 3, 4
SHF_ALLOC, SHF_EXECINSTR, SHF_COMPRESSED = 0x2, 0x4, 0x800
PT_LOAD, PT_GNU_EH_FRAME = 1, 0x6474E550

#: Where the hostile module's text starts (file address), and the one benign function before it.
TEXT = 0x1000
BENIGN = TEXT  # [TEXT, TEXT+0x10): an ordinary function, served before any budget runs out
HOSTILE = TEXT + 0x100  # [HOSTILE, HOSTILE+0x100): the function whose CFI attacks


def uleb(v: int) -> bytes:
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        out.append(b | (0x80 if v else 0))
        if not v:
            return bytes(out)


def sleb(v: int) -> bytes:
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        if (v == 0 and not b & 0x40) or (v == -1 and b & 0x40):
            out.append(b)
            return bytes(out)
        out.append(b | 0x80)


# -- .eh_frame ---------------------------------------------------------------------------------------

#: The x86-64 entry rules: CFA = rsp+8, return address at CFA-8.
ENTRY = b"\x0c\x07\x08\x90\x01"


class EhFrame:
    """An .eh_frame under construction: CIEs "zR" with absolute 8-byte FDE pointers (encoding 0)."""

    def __init__(self) -> None:
        self.data = bytearray()

    def _entry(self, body: bytes) -> int:
        offset = len(self.data)
        body += bytes(-(len(body) + 4) % 8)  # pad with DW_CFA_nop to 8 bytes
        self.data += struct.pack("<I", len(body)) + body
        return offset

    def cie(self, instructions: bytes, ra: int = 16) -> int:
        return self._entry(struct.pack("<I", 0) + b"\x01zR\x00" + uleb(1) + sleb(-8) + uleb(ra) + uleb(1) + b"\x00"
                           + instructions)

    def fde(self, cie: int, begin: int, size: int, instructions: bytes) -> int:
        field = len(self.data) + 4
        return self._entry(struct.pack("<IQQ", field - cie, begin, size) + uleb(0) + instructions)

    def terminate(self) -> bytes:
        return bytes(self.data) + b"\0\0\0\0"


def eh_frame_hdr(eh: bytes, eh_address: int, hdr_address: int, fdes: list[tuple[int, int]]) -> bytes:
    """.eh_frame_hdr with the default table encoding (datarel|sdata4) for (pc, fde offset) pairs."""
    out = struct.pack("<BBBBiI", 1, 0x1B, 0x03, 0x3B, eh_address - (hdr_address + 4), len(fdes))
    for pc, off in sorted(fdes):
        out += struct.pack("<ii", pc - hdr_address, eh_address + off - hdr_address)
    return out


# -- ELF ---------------------------------------------------------------------------------------------


def elf(sections: list[dict], *, etype: int = ET_DYN, machine: int = EM_X86_64) -> bytes:
    """A minimal ELF64: ``sections`` are dicts (name, data, type, flags, addr, link, info, entsize).

    Allocated sections sit at file offset == address, under one PT_LOAD from 0 (ET_DYN only), with
    PT_GNU_EH_FRAME for .eh_frame_hdr; the others follow them.
    """
    names = bytearray(b"\0")
    name_off: dict[str, int] = {}
    for s in sections + [{"name": ".shstrtab"}]:
        if s["name"] not in name_off:
            name_off[s["name"]] = len(names)
            names += s["name"].encode() + b"\0"
    hdr = next((s for s in sections if s["name"] == ".eh_frame_hdr"), None)
    phnum = (2 if hdr else 1) if etype == ET_DYN else 0
    body = bytearray(64 + 56 * phnum)
    placed = []
    alloc_end = 0
    for s in sections:
        data = s.get("data", b"")
        if etype == ET_DYN and s.get("flags", 0) & SHF_ALLOC:
            off = s["addr"]
            assert off >= len(body), s["name"]
            alloc_end = max(alloc_end, off + len(data))
        else:
            off = (len(body) + 7) & ~7
        body += bytes(off - len(body)) + data
        placed.append(off)
    str_off = len(body)
    body += names
    shoff = (len(body) + 7) & ~7
    body += bytes(shoff - len(body))
    shdr = struct.Struct("<IIQQQQIIQQ")
    body += bytes(64)
    for s, off in zip(sections, placed):
        body += shdr.pack(name_off[s["name"]], s.get("type", SHT_PROGBITS), s.get("flags", 0), s.get("addr", 0),
                          off, len(s.get("data", b"")), s.get("link", 0), s.get("info", 0), 8, s.get("entsize", 0))
    body += shdr.pack(name_off[".shstrtab"], SHT_STRTAB, 0, 0, str_off, len(names), 0, 0, 1, 0)
    shnum = len(sections) + 2
    body[0:64] = struct.pack("<16sHHIQQQIHHHHHH", b"\x7fELF\x02\x01\x01" + bytes(9), etype, machine, 1, 0,
                             64 if phnum else 0, shoff, 0, 64, 56, phnum, 64, shnum, shnum - 1)
    if phnum:
        ph = struct.pack("<IIQQQQQQ", PT_LOAD, 5, 0, 0, 0, alloc_end, alloc_end, 0x1000)
        if hdr:
            ph += struct.pack("<IIQQQQQQ", PT_GNU_EH_FRAME, 4, hdr["addr"], hdr["addr"], hdr["addr"],
                              len(hdr["data"]), len(hdr["data"]), 4)
        body[64:64 + len(ph)] = ph
    return bytes(body)


def module(eh: EhFrame, fdes: list[tuple[int, int]], *, machine: int = EM_X86_64, extra: list | None = None) -> bytes:
    """An ET_DYN image: .text (nops) at TEXT, .eh_frame after it, .eh_frame_hdr after that."""
    text = b"\x90" * 0x200
    data = eh.terminate()
    eh_addr = TEXT + 0x1000
    hdr_addr = (eh_addr + len(data) + 0xF) & ~0xF
    return elf([{"name": ".text", "data": text, "flags": SHF_ALLOC | SHF_EXECINSTR, "addr": TEXT},
                {"name": ".eh_frame", "data": data, "flags": SHF_ALLOC, "addr": eh_addr},
                {"name": ".eh_frame_hdr", "data": eh_frame_hdr(data, eh_addr, hdr_addr, fdes), "flags": SHF_ALLOC,
                 "addr": hdr_addr}] + (extra or []), machine=machine)


def _benign(eh: EhFrame) -> list[tuple[int, int]]:
    """One ordinary function at BENIGN (push rbp), with its own CIE: served whatever follows."""
    cie = eh.cie(ENTRY)
    return [(BENIGN, eh.fde(cie, BENIGN, 0x10, b"\x41\x0e\x10\x86\x02"))]


# -- the attacks -------------------------------------------------------------------------------------


def countdown(n: int) -> bytes:
    """A DWARF expression that loops ``n`` times (4 operations each) with DW_OP_bra, leaving 0.

    constu n; L: lit1; minus; dup; bra L (the branch is relative to the end of its operand).
    """
    assert n < 0x4000  # a two-byte uleb: the loop starts at byte 3
    return b"\x10" + uleb(n) + b"\x31\x1c\x12\x28" + struct.pack("<h", -6)


def make_expr_bomb(rules: int = 15, loop: int = 2399) -> bytes:
    """CPU: a CIE with ``rules`` DW_CFA_val_expression rules (for rax..r15 but rsp), each a ~9,600-step
    countdown (under the per-expression bound), so every frame costs rules x 9,600 steps. Unwound
    through a stack of 4,096 return addresses into the same function, that is 590 million steps
    without a budget per input. A bounded unwinder stops at the expression_steps budget after a few
    frames, and says so."""
    eh = EhFrame()
    fdes = _benign(eh)
    expr = countdown(loop)
    body = b"\x0c\x07\x10\x90\x01"  # CFA = rsp+16, ra at CFA-8: each frame is 16 bytes of stack
    for reg in [r for r in range(16) if r != 7][:rules]:
        body += b"\x16" + uleb(reg) + uleb(len(expr)) + expr
    cie = eh.cie(body)
    fdes.append((HOSTILE, eh.fde(cie, HOSTILE, 0x100, b"")))
    return module(eh, fdes)


def make_wide_cie(rules: int = 60_000, fdes: int = 20_000) -> bytes:
    """Memory: one CIE with 60,000 register rules shared by 20,000 FDEs (rows copied per FDE and per
    pc reach gigabytes). Refused once by the rules_per_row cap; the benign FDE is still served."""
    eh = EhFrame()
    pairs = _benign(eh)
    body = bytearray(ENTRY)
    for reg in range(17, 17 + rules):
        body += b"\x05" + uleb(reg) + uleb(2)  # DW_CFA_offset_extended reg, cfa-16
    cie = eh.cie(bytes(body))
    for i in range(fdes):
        pairs.append((HOSTILE + i, eh.fde(cie, HOSTILE + i, 1, b"")))
    return module(eh, pairs)


def make_remember_bomb(rules: int = 500, pairs: int = 200_000) -> bytes:
    """Memory and CPU: remember_state copies of a wide row (500 rules, under the cap): 250 nested
    copies, then 200,000 remember/restore pairs, each copying the whole row. Bounded by the
    remember_depth cap and the cfi_work budget; the benign FDE before it is served."""
    eh = EhFrame()
    fdes = _benign(eh)
    body = bytearray(ENTRY)
    for reg in range(17, 17 + rules):
        body += b"\x05" + uleb(reg) + uleb(2)
    cie = eh.cie(bytes(body))
    code = b"\x0a" * 250 + b"\x0a\x0b" * pairs
    fdes.append((HOSTILE, eh.fde(cie, HOSTILE, 0x100, code)))
    return module(eh, fdes)


def make_deep_remember(depth: int = 100_000) -> bytes:
    """remember_state nested 100,000 deep: refused by the remember_depth cap (256)."""
    eh = EhFrame()
    fdes = _benign(eh)
    cie = eh.cie(ENTRY)
    fdes.append((HOSTILE, eh.fde(cie, HOSTILE, 0x100, b"\x0a" * depth)))
    return module(eh, fdes)


def _zeros_stream(size: int) -> bytes:
    z = zlib.compressobj(9)
    chunk = bytes(1 << 20)
    out = [z.compress(chunk) for _ in range(size >> 20)]
    out.append(z.flush())
    return b"".join(out)


def make_compressed_bomb(zdebug: bool = False, claimed: int = 1 << 30, real: int = 64 << 20) -> bytes:
    """Decompression: a .debug_frame (SHF_COMPRESSED, or .zdebug_frame) that claims 1 GiB and is ~64 KiB
    of zlib (64 MiB of zeros): refused by the inflate_ratio cap before inflating; .eh_frame is served."""
    eh = EhFrame()
    fdes = _benign(eh)
    stream = _zeros_stream(real)
    if zdebug:
        sec = {"name": ".zdebug_frame", "data": b"ZLIB" + struct.pack(">Q", claimed) + stream}
    else:
        sec = {"name": ".debug_frame", "data": struct.pack("<IIQQ", 1, 0, claimed, 1) + stream,
               "flags": SHF_COMPRESSED}
    return module(eh, fdes, extra=[sec])


def make_many_rela(count: int = 20_000) -> bytes:
    """Relocatable object with 20,000 SHT_RELA sections, all for .eh_frame (one R_X86_64_64 each, on the
    FDE's pc_begin): quadratic when every section costs a lookup and a symbol-table copy."""
    eh = EhFrame()
    cie = eh.cie(ENTRY)
    fde = eh.fde(cie, 0, 0x10, b"\x41\x0e\x10")
    data = eh.terminate()
    sym = struct.Struct("<IBBHQQ")
    symtab = sym.pack(0, 0, 0, 0, 0, 0) + sym.pack(1, 0x12, 0, 1, 0x40, 0x10)  # f: global func in .text at 0x40
    strtab = b"\0f\0"
    rela = struct.pack("<QQq", fde + 8, (1 << 32) | 1, 0)  # R_X86_64_64 f+0 at the FDE's pc_begin
    sections = [{"name": ".text", "data": b"\x90" * 0x80, "flags": SHF_ALLOC | SHF_EXECINSTR},
                {"name": ".eh_frame", "data": data, "flags": SHF_ALLOC},
                {"name": ".symtab", "data": symtab, "type": SHT_SYMTAB, "link": 4, "info": 1, "entsize": 24},
                {"name": ".strtab", "data": strtab, "type": SHT_STRTAB}]
    # Section indexes: 0 null, 1 .text, 2 .eh_frame, 3 .symtab, 4 .strtab, then the RELA sections.
    sections += [{"name": ".rela.eh_frame", "data": rela, "type": SHT_RELA, "link": 3, "info": 2, "entsize": 24}
                 for _ in range(count)]
    return elf(sections, etype=ET_REL)


def make_aarch64() -> bytes:
    """An AArch64 ELF with .eh_frame: refused once, by name (x86-64 register names would be wrong)."""
    eh = EhFrame()
    return module(eh, _benign(eh), machine=EM_AARCH64)


def make_corrupt_hdr() -> bytes:
    """An .eh_frame_hdr whose search table has a non-default encoding (pcrel|sdata4) and claims a
    billion entries, beside a sound .eh_frame: every FDE is still listed and found by address, and
    the header's problem is said naming the file and the section."""
    eh = EhFrame()
    fdes = _benign(eh)
    cie = eh.cie(ENTRY)
    fdes.append((HOSTILE, eh.fde(cie, HOSTILE, 0x10, b"\x41\x0e\x10")))
    fdes.append((HOSTILE + 0x10, eh.fde(cie, HOSTILE + 0x10, 0x10, b"\x41\x0e\x20")))
    image = bytearray(module(eh, fdes))
    hdr_addr = (TEXT + 0x1000 + len(eh.terminate()) + 0xF) & ~0xF
    image[hdr_addr + 3] = 0x1B  # pcrel|sdata4 instead of datarel|sdata4
    struct.pack_into("<I", image, hdr_addr + 8, 0x40000000)  # a billion entries
    return bytes(image)


def make_bad_cie_opcode() -> bytes:
    """A CIE whose initial instructions hold an unknown opcode (0x3f), used by one FDE: `cfi` and
    `cfi --address` must agree on the exit code (1) and each say it once."""
    eh = EhFrame()
    fdes = _benign(eh)
    cie = eh.cie(ENTRY + b"\x3f")
    fdes.append((HOSTILE, eh.fde(cie, HOSTILE, 0x10, b"")))
    return module(eh, fdes)


def make_bad_pointer_encoding(fdes: int = 1000) -> bytes:
    """A CIE whose FDE pointer encoding (0x05) no reader knows, used by 1,000 FDEs: refused once, at the
    CIE's offset, not once per FDE; the benign FDE is served."""
    eh = EhFrame()
    pairs = _benign(eh)
    cie = eh.cie(ENTRY)
    eh.data[cie + 16] = 0x05  # length, id, version, "zR\0", caf, daf, ra, augmentation length: then R
    for i in range(fdes):
        pairs.append((HOSTILE + i, eh.fde(cie, HOSTILE + i, 1, b"")))
    return module(eh, pairs)


def snapshot(image: bytes, frames: int = 4096) -> bytes:
    """A snapshot (docs/snapshot.md) whose only module is ``image`` mapped as the [vdso] -- as a core
    carries it, in memory only -- and one thread in its HOSTILE function with ``frames`` return
    addresses into the same function on its stack (CFA = rsp+16, ra at CFA-8)."""
    base = 0x7F00_0000_0000
    stack = 0x7FFC_0000_0000
    size = (len(image) + 0xFFF) & ~0xFFF
    ret = base + HOSTILE + 2
    mem = bytearray()
    for _ in range(frames):
        mem += struct.pack("<QQ", 0, ret)
    regs = {str(r): "0x0" for r in range(16)}
    regs["7"] = hex(stack)
    regs["16"] = hex(base + HOSTILE + 1)
    data = image + bytes(size - len(image)) + bytes(mem)
    header = {"name": "hostile", "threads": [{"tid": 1, "crashed": True, "signal": 11, "name": "hostile",
                                              "registers": regs}],
              "mappings": [{"start": hex(base), "end": hex(base + size), "offset": 0, "path": "[vdso]",
                            "perms": "r-x", "build_id": None},
                           {"start": hex(stack), "end": hex(stack + len(mem)), "offset": 0, "path": "[stack]",
                            "perms": "rw-", "build_id": None}],
              "ranges": [{"address": hex(base), "size": size, "offset": 0},
                         {"address": hex(stack), "size": len(mem), "offset": size}],
              "data_size": len(data), "data_crc32": zlib.crc32(data)}
    raw = json.dumps(header).encode()
    return b"DWUNSNAP" + struct.pack("<III", 1, len(raw), zlib.crc32(raw)) + raw + data


#: file name -> maker. Names start with cfi_ or elf_ (tests/hostile is shared with other attack classes).
FILES = {
    "cfi_expr_bomb.snap": lambda: snapshot(make_expr_bomb()),
    "cfi_wide_cie.elf": make_wide_cie,
    "cfi_remember_bomb.elf": make_remember_bomb,
    "cfi_deep_remember.elf": make_deep_remember,
    "cfi_corrupt_hdr.elf": make_corrupt_hdr,
    "cfi_bad_cie_opcode.elf": make_bad_cie_opcode,
    "cfi_bad_pointer_encoding.elf": make_bad_pointer_encoding,
    "elf_zbomb_shf.elf": make_compressed_bomb,
    "elf_zbomb_zdebug.elf": lambda: make_compressed_bomb(zdebug=True),
    "elf_many_rela.o": make_many_rela,
    "elf_aarch64.elf": make_aarch64,
}


def make(name: str, outdir: str) -> str:
    """Write file ``name`` (or the FIFO ``elf_fifo``) into ``outdir``; return its path."""
    path = os.path.join(outdir, name)
    if name == "elf_fifo":
        if not os.path.exists(path):
            os.mkfifo(path)
        return path
    with open(path, "wb") as f:
        f.write(FILES[name]())
    return path


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    os.makedirs(argv[0], exist_ok=True)
    for name in [*FILES, "elf_fifo"]:
        print(make(name, argv[0]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
