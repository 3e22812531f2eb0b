"""DW_OP_GNU_encoded_addr (0xf1) in the expression evaluator and disassembler.

Oracles: readelf's own decoding of the op (``DW_OP_GNU_encoded_addr: fmt:1b addr:...`` in
``--debug-dump=frames``) for tests/asm/val_encoded_addr.S as gas and ld wrote it. Bad operands
(truncated, unsupported encodings) must be ExpressionErrors naming the op, never another exception;
hypothesis throws arbitrary bytes after the opcode. The unwinds through the op are in
tests/test_encoded_addr.py (libgcc, gdb).
"""

from __future__ import annotations

import re
import subprocess

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dwarfunwind.cfi.expr import disassemble, evaluate
from dwarfunwind.cfi.rules import LocatedExpression
from dwarfunwind.errors import ExpressionError, MemoryReadError, RegisterUnavailable

ASM = "tests/asm/val_encoded_addr.S"


class _Machine:
    """Registers: none. Memory: 8-byte words at a few addresses, else unreadable."""

    def __init__(self, memory: dict[int, int] | None = None) -> None:
        self.memory = memory or {}

    def read_register(self, regno: int) -> int:
        raise RegisterUnavailable(regno)

    def read_memory(self, address: int, size: int) -> bytes:
        if address not in self.memory:
            raise MemoryReadError(address, size)
        return self.memory[address].to_bytes(8, "little")[:size]


def test_disassembly_matches_readelf(tmp_path, need_tool):
    """Our text of each val_expression names the encoding and the address readelf resolves."""
    obj, exe = tmp_path / "v.o", tmp_path / "v"
    subprocess.run([need_tool("as"), "--64", "-o", str(obj), ASM], check=True)
    subprocess.run([need_tool("ld"), "--eh-frame-hdr", "-e", "0", "-o", str(exe), str(obj)], check=True)
    raw = subprocess.run([need_tool("readelf"), "--debug-dump=frames", str(exe)], capture_output=True, text=True,
                         check=True).stdout
    theirs = []
    for m in re.finditer(r"DW_CFA_val_expression: r(\d+) \(\w+\) \((.*)\)$", raw, re.M):
        e = re.fullmatch(r"DW_OP_GNU_encoded_addr: fmt:([0-9a-f]+) addr:([0-9a-f]+)", m.group(2))
        a = re.fullmatch(r"DW_OP_addr: ([0-9a-f]+)", m.group(2))
        assert e or a, m.group(2)
        theirs.append((int(m.group(1)), int(e.group(1), 16), int(e.group(2), 16)) if e else
                      (int(m.group(1)), None, int(a.group(1), 16)))  # type: ignore[union-attr]
    assert len(theirs) == 3 and {t[1] for t in theirs} == {0x1B, None, 0x03}
    from dwarfunwind.cfi.program import row_table
    from dwarfunwind.elf.module import ElfFile

    elf = ElfFile.open(str(exe))
    seen: dict[int, bytes] = {}
    for section in elf.cfi_sections():
        for fde in section.fdes():
            for _, _, regs in row_table(fde):
                for reg, rule in regs.items():
                    if isinstance(rule.arg, bytes):
                        seen.setdefault(reg, rule.arg)
    ours = []
    for reg, expr in seen.items():
        text = disassemble(expr)
        e = re.fullmatch(r"DW_OP_GNU_encoded_addr (0x[0-9a-f]+) [a-z0-9|]+ (0x[0-9a-f]+)", text)
        a = re.fullmatch(r"DW_OP_addr (0x[0-9a-f]+)", text)
        assert e or a, text
        ours.append((reg, int(e.group(1), 16), int(e.group(2), 16)) if e else
                    (reg, None, int(a.group(1), 16)))  # type: ignore[union-attr]
        assert isinstance(expr, LocatedExpression) == (e is not None)
    assert sorted(ours, key=str) == sorted(theirs, key=str)


def _sdata4(v: int) -> bytes:
    return v.to_bytes(4, "little", signed=True)


def test_encodings_evaluate_as_libgcc_reads_them():
    """pcrel from the value's own address (+ load bias); absolute and DW_OP_addr moved by the bias;
    funcrel from the function's start; indirect read through memory."""
    at = 0x401000
    pcrel = LocatedExpression(b"\xf1\x1b" + _sdata4(0x100), at)
    assert evaluate(pcrel, _Machine(), [0]) == at + 2 + 0x100
    assert evaluate(pcrel, _Machine(), [0], bias=0x5000) == 0x5000 + at + 2 + 0x100
    assert evaluate(b"\xf1\x03" + (0x401234).to_bytes(4, "little"), _Machine(), [0], bias=0x10) == 0x401244
    assert evaluate(b"\x03" + (0x401234).to_bytes(8, "little"), _Machine(), [0], bias=0x10) == 0x401244
    assert evaluate(b"\xf1\x43" + (0x20).to_bytes(4, "little"), _Machine(), [0], func=0x7000) == 0x7020
    slot = at + 2 + 0x40
    assert evaluate(LocatedExpression(b"\xf1\x9b" + _sdata4(0x40), at), _Machine({slot: 0xABCD}), [0]) == 0xABCD
    assert evaluate(LocatedExpression(b"\xf1\x1c" + (-8).to_bytes(8, "little", signed=True), at), _Machine(),
                    [0]) == at + 2 - 8
    # It pushes: the stack below stays (DW_OP_plus of the CFA and the address).
    assert evaluate(b"\xf1\x03" + (5).to_bytes(4, "little") + b"\x22", _Machine(), [7]) == 12


@pytest.mark.parametrize("expr,words", [
    (b"\xf1", "encoding byte is missing"),
    (b"\xf1\x1b\x00\x00", "runs past the expression"),
    (b"\xf1\x04" + bytes(7), "runs past the expression"),
    (b"\xf1\x01\x80", "runs past the expression"),
    (b"\xf1\xff", "0xff (omit)"),
    (b"\xf1\x07\x00", "unsupported pointer encoding 0x07"),
    (b"\xf1\x63\x00\x00\x00\x00", "unsupported pointer encoding 0x63"),
    (b"\xf1\x23\x00\x00\x00\x00", "textrel|udata4 pointers (encoding 0x23) are not supported"),
    (b"\xf1\x33\x00\x00\x00\x00", "datarel|udata4 pointers (encoding 0x33) are not supported"),
    (b"\xf1\x1b\x00\x00\x00\x00", "address is unknown"),  # pcrel, but not read from .eh_frame
])
def test_bad_operands_are_expression_errors_naming_the_op(expr, words):
    with pytest.raises(ExpressionError, match="DW_OP_GNU_encoded_addr") as info:
        evaluate(expr, _Machine(), [0])
    assert words in str(info.value)
    if "not supported" not in words and "unknown" not in words:  # decodable ones disassemble
        with pytest.raises(ExpressionError, match="DW_OP_GNU_encoded_addr"):
            disassemble(expr)


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=12), st.booleans(), st.integers(0, 1 << 47))
def test_arbitrary_operands_never_escape(tail, located, address):
    expr = b"\xf1" + tail
    if located:
        expr = LocatedExpression(expr, address)
    for run in (lambda: evaluate(expr, _Machine(), [0], bias=0x1000, func=0x2000), lambda: disassemble(expr)):
        try:
            run()
        except (ExpressionError, MemoryReadError, RegisterUnavailable):
            pass


def test_located_expressions_differ_by_address():
    a, b = LocatedExpression(b"\xf1\x1b\0\0\0\0", 0x10), LocatedExpression(b"\xf1\x1b\0\0\0\0", 0x20)
    assert a != b and a == LocatedExpression(b"\xf1\x1b\0\0\0\0", 0x10) and len({a, b}) == 2
    assert a != bytes(a)
    import pickle

    assert pickle.loads(pickle.dumps(a)) == a
