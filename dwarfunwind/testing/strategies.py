"""Hypothesis strategies for CFI: frame layouts, the machine state they imply, and sections.

Every strategy produces *models* (see :mod:`dwarfunwind.testing.model`); turn
them into bytes with :mod:`dwarfunwind.testing.encoder` and an
:func:`encoder_choices` draw, so that the same model can be encoded in many
equivalent ways.

Ground truth is built forwards: the caller's registers are drawn first, then
:class:`~dwarfunwind.testing.frames.FrameBuilder` performs the call and the
prologue, recording the callee's registers, its stack memory and the rules.
"""

from __future__ import annotations

import random

from hypothesis import strategies as st

from ..arch.x86_64 import RA, RSP
from .encoder import pointer_fits
from .frames import SCRATCH, FrameBuilder, signal_frame
from .model import MASK64, CIEModel, FDEModel, FrameCase, SectionModel

#: FDE pointer encodings (DW_EH_PE_*) the generator picks from for .eh_frame, most common first.
FDE_ENCODINGS: tuple[int, ...] = (0x1B, 0x00, 0x03, 0x04, 0x0B, 0x0C, 0x1C, 0x02, 0x0A, 0x01)
#: Encodings for personality and LSDA pointers.
AUX_ENCODINGS: tuple[int, ...] = (0x1B, 0x00, 0x03, 0x04)


def caller_registers() -> st.SearchStrategy[dict[int, int]]:
    """The caller's 16 GPRs and rip (column 16); rsp is 16-byte aligned, as at a call."""
    u64 = st.integers(0, MASK64)

    def build(values: list[int], rsp_slot: int, rip: int) -> dict[int, int]:
        regs = dict(enumerate(values))
        regs[RSP] = 0x7FFC_0000_0000 + 16 * rsp_slot
        regs[RA] = rip
        return regs

    return st.builds(build, st.lists(u64, min_size=16, max_size=16), st.integers(0, 1 << 24), u64)


def _length(caf: int) -> st.SearchStrategy[int]:
    """Instruction lengths in bytes (multiples of the code alignment factor); now and then a long gap."""
    short = st.integers(1, 7)
    return st.one_of(short, short, short, short, short, st.integers(60, 300), st.just(66000)).map(
        lambda n: n * caf)


@st.composite
def frame_layouts(draw: st.DrawFn, caf: int = 1, max_ops: int = 10) -> FrameCase:
    """An ordinary function's prologue: pushes, stack adjustments, saves, frame pointer, realignment."""
    builder = FrameBuilder(draw(caller_registers()))
    for _ in range(draw(st.integers(0, max_ops))):
        kind = draw(st.sampled_from(builder.possible()))
        if kind == "push":
            builder.push(draw(st.sampled_from(builder.unsaved())))
        elif kind == "push_scratch":
            builder.push_scratch(draw(st.sampled_from(SCRATCH)))
        elif kind == "pop":
            builder.pop()
        elif kind == "sub":
            builder.sub(8 * draw(st.one_of(st.integers(1, 16), st.just(512))))
        elif kind == "store":
            builder.store(draw(st.sampled_from(builder.unsaved())), draw(st.integers(0, 64)))
        elif kind == "movreg":
            builder.movreg(draw(st.sampled_from(builder.unsaved())), draw(st.sampled_from(builder.free_scratch())))
        elif kind == "valoff":
            builder.valoff(draw(st.sampled_from(builder.unsaved())), 8 * draw(st.integers(-32, 32)))
        elif kind == "same":
            builder.same(draw(st.sampled_from(builder.unsaved())))
        elif kind == "undef":
            builder.undef(draw(st.sampled_from(builder.free_scratch())))
        elif kind == "setfp":
            builder.setfp()
        elif kind == "realign":
            builder.realign(draw(st.sampled_from([16, 32, 64])))
        builder.end_instruction(draw(_length(caf)))
    return builder.finish(caf * draw(st.integers(1, 16)))


@st.composite
def signal_frames(draw: st.DrawFn, caf: int = 1) -> FrameCase:
    """A signal trampoline's frame: every GPR and rip saved in a ucontext on the stack."""
    return signal_frame(draw(caller_registers()), 16 * draw(st.integers(0, 64)), draw(st.booleans()),
                        draw(st.booleans()), caf * draw(st.integers(1, 8)))


@st.composite
def section_models(draw: st.DrawFn, name: str | None = None, max_functions: int = 3, max_ops: int = 10,
                   signal: bool | None = None) -> SectionModel:
    """A CFI section describing 1..``max_functions`` generated functions.

    ``name`` fixes the section (.eh_frame or .debug_frame); ``signal`` forces
    (True) or forbids (False) a signal frame among the functions.
    """
    if name is None:
        name = draw(st.sampled_from([".eh_frame", ".eh_frame", ".debug_frame"]))
    is_eh = name == ".eh_frame"
    caf = draw(st.sampled_from([1, 1, 1, 2, 4]))
    daf = draw(st.sampled_from([-8, -8, -4, -1, 1, 8]))
    n = draw(st.integers(1, max_functions))
    want_signal = is_eh and (signal if signal is not None else draw(st.integers(0, 4)) == 0)
    kinds = ["ordinary"] * n
    if want_signal:
        kinds[draw(st.integers(0, n - 1))] = "signal"
    cases = [draw(signal_frames(caf) if k == "signal" else frame_layouts(caf, max_ops)) for k in kinds]

    high = not is_eh and draw(st.booleans())  # .debug_frame of a relocated, high-address object
    text_address = 0x7F12_3456_0000 if high else 0x1000
    pcs = []
    pc = text_address
    for case in cases:
        pc += 16 * draw(st.integers(0, 2))
        pcs.append(pc)
        pc += case.length
    text_size = pc - text_address
    address = ((pc + 0xFFF) & ~0xFFF) if is_eh else 0
    version = 1 if is_eh else draw(st.sampled_from([1, 3, 4]))

    def cie(aug: str) -> CIEModel:
        model = CIEModel(version=version, augmentation=aug, code_alignment_factor=caf,
                         data_alignment_factor=daf, fde_encoding=0x00)
        if is_eh:
            fits = [e for e in FDE_ENCODINGS
                    if pointer_fits(pc, e, address) and pointer_fits(text_size, e & 0x0F, 0)]
            model.fde_encoding = draw(st.sampled_from(fits))
        if "P" in aug:
            model.personality_encoding = draw(st.sampled_from(AUX_ENCODINGS))
            model.personality = text_address + draw(st.integers(0, text_size))
        if "L" in aug:
            model.lsda_encoding = draw(st.sampled_from(AUX_ENCODINGS))
        return model

    cies = [cie(draw(st.sampled_from(["zR", "zR", "zPLR"])) if is_eh else "")]
    if want_signal:
        cies.append(cie("zRS"))
    elif is_eh and n > 1 and draw(st.booleans()):
        cies.append(cie("zPLR"))
    fdes = []
    for case, begin in zip(cases, pcs):
        index = len(cies) - 1 if case.kind == "signal" else draw(st.integers(0, len(cies) - 1 - want_signal))
        lsda = None
        if "L" in cies[index].augmentation:
            lsda = text_address + draw(st.integers(0, text_size))
        fdes.append(FDEModel(begin, case.length, case.rows, index, lsda))
    return SectionModel(name, address, cies, fdes, draw(st.booleans()), text_address, text_size, cases)


@st.composite
def unwind_cases(draw: st.DrawFn, name: str | None = None) -> tuple[SectionModel, int, int]:
    """A section, one of its functions (index) and a pc inside it at which to unwind."""
    model = draw(section_models(name))
    index = draw(st.integers(0, len(model.fdes) - 1))
    fde = model.fdes[index]
    return model, index, fde.pc_begin + draw(st.integers(0, fde.pc_range - 1))


def encoder_choices() -> st.SearchStrategy[random.Random]:
    """The source of the encoder's choices: a hypothesis-controlled, shrinkable Random."""
    return st.randoms(use_true_random=False)


# -- expensive but valid ----------------------------------------------------------------------


def _uleb(v: int) -> bytes:
    from ..cfi.encoding import encode_uleb128

    return encode_uleb128(v)


def countdown_expression(n: int) -> bytes:
    """A valid DWARF expression that loops ``n`` times (4 operations each) and leaves 0 on the stack."""
    import struct

    return b"\x10" + _uleb(n) + b"\x31\x1c\x12\x28" + struct.pack("<h", -(3 + len(_uleb(n))))


@st.composite
def expensive_eh_frames(draw: st.DrawFn) -> bytes:
    """A .eh_frame (at address 0) of valid CFI built to be costly: long expression loops, wide rows,
    deep remember stacks and many remember/restore pairs, CIEs shared by many FDEs.

    Sizes are drawn around the budgets' caps (docs/security.md), so both sides of each are met.
    """
    import struct

    out = bytearray()

    def entry(body: bytes) -> int:
        offset = len(out)
        body += bytes(-(len(body) + 4) % 8)
        out.extend(struct.pack("<I", len(body)) + body)
        return offset

    cies = []
    for _ in range(draw(st.integers(1, 3))):
        body = bytearray(b"\x0c\x07\x10\x90\x01")  # CFA rsp+16, ra at CFA-8
        for reg in range(17, 17 + draw(st.integers(0, 600))):  # a wide row
            body += b"\x05" + _uleb(reg) + _uleb(2)
        for reg in range(700, 700 + draw(st.integers(0, 8))):  # long loops as val_expression rules
            expr = countdown_expression(draw(st.integers(1, 2400)))
            body += b"\x16" + _uleb(reg) + _uleb(len(expr)) + expr
        cies.append(entry(struct.pack("<I", 0) + b"\x01zR\x00\x01\x78\x10\x01\x00" + bytes(body)))
    pc = 0x1000
    for _ in range(draw(st.integers(1, 40))):
        code = bytearray()
        depth = draw(st.integers(0, 300))  # a deep remember stack (the cap is 256)
        code += b"\x0a" * depth
        pairs = draw(st.integers(0, 2000))
        code += b"\x41\x0a\x0b" * pairs  # rows, each remembering and restoring the whole row
        code += b"\x0b" * draw(st.integers(0, depth))
        cie = draw(st.sampled_from(cies))
        field = len(out) + 4
        entry(struct.pack("<IQQ", field - cie, pc, 0x10000) + b"\x00" + bytes(code))
        pc += 0x10000
    return bytes(out) + b"\0\0\0\0"


# -- mutations --------------------------------------------------------------------------------


Mutation = tuple


def mutations(max_count: int = 6) -> st.SearchStrategy[list[Mutation]]:
    """Edits to apply to bytes: bit flips, byte sets, truncation, insertion, deletion, length corruption.

    Positions are drawn as plain integers and reduced modulo the data's
    length by :func:`apply_mutations`, so one list fits any input.
    """
    pos = st.integers(0, 1 << 20)
    one = st.one_of(
        st.tuples(st.just("flip"), pos, st.integers(0, 7)),
        st.tuples(st.just("set"), pos, st.integers(0, 255)),
        st.tuples(st.just("truncate"), pos),
        st.tuples(st.just("insert"), pos, st.binary(min_size=1, max_size=8)),
        st.tuples(st.just("delete"), pos, st.integers(1, 16)),
        st.tuples(st.just("length"), pos, st.sampled_from(
            [0, 1, 4, 7, 8, 0xFFFFFFFF, 0xFFFFFFF0, 0x7FFFFFFF, 0x10000])),
    )
    return st.lists(one, min_size=1, max_size=max_count)


def entry_offsets(data: bytes) -> list[int]:
    """Offsets of the entries of a CFI section (by their 32-bit lengths), for length corruption."""
    out: list[int] = []
    pos = 0
    while pos + 4 <= len(data) and len(out) < 100_000:
        out.append(pos)
        length = int.from_bytes(data[pos:pos + 4], "little")
        if length == 0xFFFFFFFF:
            if pos + 12 > len(data):
                break
            length = int.from_bytes(data[pos + 4:pos + 12], "little") + 8
        if length == 0:
            pos += 4
            continue
        pos += 4 + length
    return out


def apply_mutations(data: bytes, edits: list[Mutation]) -> bytes:
    """``data`` with ``edits`` applied in order (positions modulo the current length)."""
    buf = bytearray(data)
    for edit in edits:
        kind = edit[0]
        if kind == "insert":
            p = edit[1] % (len(buf) + 1)
            buf[p:p] = edit[2]
            continue
        if not buf:
            continue
        p = edit[1] % len(buf)
        if kind == "flip":
            buf[p] ^= 1 << edit[2]
        elif kind == "set":
            buf[p] = edit[2]
        elif kind == "truncate":
            del buf[p:]
        elif kind == "delete":
            del buf[p:p + edit[2]]
        elif kind == "length":
            offsets = entry_offsets(bytes(buf))
            if offsets:
                at = offsets[edit[1] % len(offsets)]
                if at + 4 <= len(buf):
                    buf[at:at + 4] = edit[2].to_bytes(4, "little")
    return bytes(buf)


__all__ = [
    "AUX_ENCODINGS", "FDE_ENCODINGS", "apply_mutations", "caller_registers", "countdown_expression",
    "encoder_choices", "entry_offsets", "expensive_eh_frames", "frame_layouts", "mutations", "section_models",
    "signal_frames", "unwind_cases",
]
