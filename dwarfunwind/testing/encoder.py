"""The inverse of the decoder: models -> CFI bytes -> a small ELF file that GNU readelf accepts.

Every choice between equivalent encodings (``def_cfa`` or ``def_cfa_register``
+ ``def_cfa_offset``, ``offset`` or ``offset_extended_sf`` or an expression,
``advance_loc`` or ``advance_loc4`` or ``set_loc``, remember/restore_state,
padding, 32- or 64-bit lengths) is made by a :class:`random.Random`; under
hypothesis that is ``st.randoms(use_true_random=False)``, so choices shrink.
The encoder records the *features* it used, so a property can leave out
exactly the cases an oracle is known to get wrong.

Besides spec-valid programs it writes, now and then, sequences the standard does
not allow but libgcc, gdb and readelf accept with a meaning that leaves the rows
as the model says: ``def_cfa_offset``/``_sf`` while an expression CFA is in force
(features ``offset_under_expression``, ``offset_after_expression``), ``restore``
of a column with no rule anywhere (``restore_unset``), ``restore_state`` with
nothing remembered (``restore_state_empty``) and a row past the FDE's end
(``advance_past_end``). The readelf property checks them against readelf.

construct describes the fixed layouts (ELF, section and program headers,
.eh_frame_hdr, the CIE header); it is imported lazily with this module.
"""

from __future__ import annotations

import random
import struct
from dataclasses import dataclass, field

import construct as cs

from ..cfi.encoding import encode_sleb128, encode_uleb128
from ..cfi.rules import EXPRESSION, OFFSET, REGISTER, SAME_VALUE, UNDEFINED, VAL_OFFSET, CFARule, Rule
from .model import ENTRY_CFA, ENTRY_REGS, CIEModel, FDEModel, SectionModel

# -- construct building blocks -------------------------------------------------------------------


class _LEB128(cs.Construct):
    """LEB128 (unsigned or signed), through the package's own helpers: the encoder is the decoder's inverse."""

    def __init__(self, signed: bool) -> None:
        super().__init__()
        self.signed = signed

    def _parse(self, stream, context, path):
        from ..cfi.encoding import read_sleb128, read_uleb128

        data = b""
        while True:
            b = cs.stream_read(stream, 1, path)
            data += b
            if b[0] < 0x80:
                return (read_sleb128 if self.signed else read_uleb128)(data, 0)[0]

    def _build(self, obj, stream, context, path):
        raw = (encode_sleb128 if self.signed else encode_uleb128)(obj)
        cs.stream_write(stream, raw, len(raw), path)
        return obj


ULEB = _LEB128(signed=False)
SLEB = _LEB128(signed=True)

#: The part of a CIE after its ID field, up to the augmentation data (DWARF 5, 6.4.1).
CIE_HEADER = cs.Struct(
    "version" / cs.Int8ul,
    "augmentation" / cs.CString("ascii"),
    "address_size" / cs.If(cs.this.version == 4, cs.Int8ul),
    "segment_size" / cs.If(cs.this.version == 4, cs.Int8ul),
    "code_alignment_factor" / ULEB,
    "data_alignment_factor" / SLEB,
    "return_address_register" / cs.IfThenElse(cs.this.version == 1, cs.Int8ul, ULEB),
)

ELF64_EHDR = cs.Struct(
    "e_ident" / cs.Const(b"\x7fELF\x02\x01\x01" + bytes(9)),
    "e_type" / cs.Int16ul,
    "e_machine" / cs.Const(62, cs.Int16ul),
    "e_version" / cs.Const(1, cs.Int32ul),
    "e_entry" / cs.Int64ul,
    "e_phoff" / cs.Int64ul,
    "e_shoff" / cs.Int64ul,
    "e_flags" / cs.Const(0, cs.Int32ul),
    "e_ehsize" / cs.Const(64, cs.Int16ul),
    "e_phentsize" / cs.Const(56, cs.Int16ul),
    "e_phnum" / cs.Int16ul,
    "e_shentsize" / cs.Const(64, cs.Int16ul),
    "e_shnum" / cs.Int16ul,
    "e_shstrndx" / cs.Int16ul,
)
ELF64_SHDR = cs.Struct(
    "sh_name" / cs.Int32ul, "sh_type" / cs.Int32ul, "sh_flags" / cs.Int64ul, "sh_addr" / cs.Int64ul,
    "sh_offset" / cs.Int64ul, "sh_size" / cs.Int64ul, "sh_link" / cs.Int32ul, "sh_info" / cs.Int32ul,
    "sh_addralign" / cs.Int64ul, "sh_entsize" / cs.Int64ul,
)
ELF64_PHDR = cs.Struct(
    "p_type" / cs.Int32ul, "p_flags" / cs.Int32ul, "p_offset" / cs.Int64ul, "p_vaddr" / cs.Int64ul,
    "p_paddr" / cs.Int64ul, "p_filesz" / cs.Int64ul, "p_memsz" / cs.Int64ul, "p_align" / cs.Int64ul,
)
#: .eh_frame_hdr (LSB 10.6.2) with GCC's encodings; other table encodings are written by hand.
EH_FRAME_HDR = cs.Struct(
    "version" / cs.Const(1, cs.Int8ul),
    "eh_frame_ptr_enc" / cs.Const(0x1B, cs.Int8ul),
    "fde_count_enc" / cs.Const(0x03, cs.Int8ul),
    "table_enc" / cs.Int8ul,
    "eh_frame_ptr" / cs.Int32sl,
    "fde_count" / cs.Int32ul,
)

ET_REL, ET_DYN = 1, 3
SHT_PROGBITS, SHT_STRTAB = 1, 3
SHF_ALLOC, SHF_EXECINSTR = 2, 4
PT_LOAD, PT_GNU_EH_FRAME = 1, 0x6474E550

# -- pointers ------------------------------------------------------------------------------------

_POINTER_FORMATS = {
    0x00: "<Q", 0x02: "<H", 0x03: "<I", 0x04: "<Q", 0x0A: "<h", 0x0B: "<i", 0x0C: "<q",
}


def encode_pointer(value: int, encoding: int, field_address: int) -> bytes:
    """``value`` in DW_EH_PE ``encoding`` for a field at ``field_address``; ValueError if it does not fit."""
    app = encoding & 0x70
    if app == 0x10:
        value -= field_address
    elif app:
        raise ValueError(f"unsupported pointer application {encoding:#x}")
    fmt = encoding & 0x0F
    if fmt == 0x01:
        if value < 0:
            raise ValueError("negative uleb128 pointer")
        return encode_uleb128(value)
    if fmt == 0x09:
        return encode_sleb128(value)
    code = _POINTER_FORMATS[fmt]
    if code[1] in "HIQ":  # unsigned: wrap a negative pcrel value into range
        value &= (1 << (8 * struct.calcsize(code))) - 1
    return struct.pack(code, value)


def pointer_fits(value: int, encoding: int, field_address: int) -> bool:
    """Whether ``value`` survives ``encoding`` at ``field_address`` (decoded back to itself)."""
    app = encoding & 0x70
    v = value - field_address if app == 0x10 else value
    fmt = encoding & 0x0F
    bits = {0x02: 16, 0x03: 32, 0x0A: 16, 0x0B: 32}.get(fmt)
    if bits is None:
        return fmt != 0x01 or v >= 0
    if fmt in (0x0A, 0x0B):
        return -(1 << (bits - 1)) <= v < 1 << (bits - 1)
    return 0 <= v < 1 << bits if app != 0x10 else -(1 << (bits - 1)) <= v < 1 << bits


# -- instructions --------------------------------------------------------------------------------



def _u(v: int) -> bytes:
    return encode_uleb128(v)


def _s(v: int) -> bytes:
    return encode_sleb128(v)


def _offset_expression(offset: int, rng: random.Random) -> bytes:
    """An expression that turns the pushed CFA into CFA+offset, in one of several spellings."""
    choices = [bytes([0x11]) + _s(offset) + bytes([0x22])]  # consts N; plus
    if offset >= 0:
        choices.append(bytes([0x23]) + _u(offset))  # plus_uconst N
    if 0 <= offset < 32:
        choices.append(bytes([0x30 + offset, 0x22]))  # litN; plus
    if offset < 0:
        choices.append(bytes([0x10]) + _u(-offset) + bytes([0x1C]))  # constu -N; minus
    return rng.choice(choices)


@dataclass
class Encoded:
    """Bytes and the features used to produce them (see the module docstring)."""

    code: bytes
    features: set[str] = field(default_factory=set)


class InstructionEncoder:
    """Turns a sequence of rows into DW_CFA instructions, one diff at a time."""

    def __init__(self, cie: CIEModel, rng: random.Random, features: set[str], *, in_cie: bool = False,
                 avoid: frozenset[str] = frozenset()) -> None:
        self.cie = cie
        self.rng = rng
        self.features = features
        self.in_cie = in_cie
        self.avoid = avoid
        self.out = bytearray()

    def pick(self, options: list[tuple[str, bytes]]) -> tuple[str, bytes]:
        """A random option whose feature is not avoided (an avoided one only when nothing else can say it)."""
        allowed = [o for o in options if o[0] not in self.avoid] or options
        return self.rng.choice(allowed)

    # CFA ------------------------------------------------------------------------------------------

    def cfa(self, cur: CFARule, tgt: CFARule) -> None:
        out, rng, daf = self.out, self.rng, self.cie.data_alignment_factor
        if tgt.expression is not None:
            if cur.expression != tgt.expression:
                out += bytes([0x0F]) + _u(len(tgt.expression)) + tgt.expression
            elif not self.in_cie and rng.random() < 0.3 and "offset_under_expression" not in self.avoid:
                # Spec-invalid, accepted by libgcc, gdb and readelf: the expression stays, the offset is noted.
                off = rng.randrange(0, 256)
                out += bytes([0x0E]) + _u(off) if rng.random() < 0.5 else bytes([0x13]) + _s(rng.randrange(-32, 32))
                self.features.add("offset_under_expression")
            return
        if cur.expression is None and (cur.register, cur.offset) == (tgt.register, tgt.offset):
            return
        reg, off = tgt.register, tgt.offset
        options: list[tuple[str, bytes]] = []
        if off >= 0:
            options.append(("def_cfa", bytes([0x0C]) + _u(reg) + _u(off)))
        if off % daf == 0:
            options.append(("def_cfa_sf", bytes([0x12]) + _u(reg) + _s(off // daf)))
        if cur.expression is not None and not self.in_cie:
            # Spec-invalid, accepted by GNU tools: an offset noted under the expression, then a register.
            if off >= 0:
                options.append(("offset_after_expression", bytes([0x0E]) + _u(off) + bytes([0x0D]) + _u(reg)))
            if off % daf == 0:
                options.append(("offset_after_expression",
                                bytes([0x13]) + _s(off // daf) + bytes([0x0D]) + _u(reg)))
        # After an expression CFA, def_cfa_register/_offset alone would combine with a stale rule.
        if cur.expression is None:
            if cur.register == reg:
                if off >= 0:
                    options.append(("def_cfa_offset", bytes([0x0E]) + _u(off)))
                if off % daf == 0:
                    options.append(("def_cfa_offset_sf", bytes([0x13]) + _s(off // daf)))
            elif cur.offset == off:
                options.append(("def_cfa_register", bytes([0x0D]) + _u(reg)))
            elif off >= 0:
                a, b = bytes([0x0D]) + _u(reg), bytes([0x0E]) + _u(off)
                options.append(("def_cfa_register", a + b if rng.random() < 0.5 else b + a))
        name, code = self.pick(options)
        self.features.add(name)
        out += code

    # registers ------------------------------------------------------------------------------------

    def rule(self, reg: int, cur: Rule | None, tgt: Rule | None, initial: dict[int, Rule]) -> None:
        if cur == tgt:
            return
        out, rng, daf = self.out, self.rng, self.cie.data_alignment_factor
        options: list[tuple[str, bytes]] = []
        if not self.in_cie and tgt == initial.get(reg):  # restore: back to the CIE's rule, or none
            if reg < 64:
                options.append(("restore", bytes([0xC0 | reg])))
            options.append(("restore_extended", bytes([0x06]) + _u(reg)))
        if tgt is None:
            if not options:
                raise ValueError(f"cannot remove the rule for r{reg}: the CIE has one")
        elif tgt.kind in (OFFSET, VAL_OFFSET):
            n = int(tgt.arg)
            val = tgt.kind == VAL_OFFSET
            if n % daf == 0:
                f = n // daf
                if f >= 0:
                    if not val and reg < 64:
                        options.append(("offset", bytes([0x80 | reg]) + _u(f)))
                    options.append(("val_offset" if val else "offset_extended",
                                    bytes([0x14 if val else 0x05]) + _u(reg) + _u(f)))
                options.append(("val_offset_sf" if val else "offset_extended_sf",
                                bytes([0x15 if val else 0x11]) + _u(reg) + _s(f)))
                if f <= 0 and not val:
                    options.append(("negative_offset_extended", bytes([0x2F]) + _u(reg) + _u(-f)))
            expr = _offset_expression(n, rng)
            options.append(("expr_offset", bytes([0x16 if val else 0x10]) + _u(reg) + _u(len(expr)) + expr))
        elif tgt.kind == REGISTER:
            options.append(("register", bytes([0x09]) + _u(reg) + _u(int(tgt.arg))))
        elif tgt.kind == SAME_VALUE:
            options.append(("same_value", bytes([0x08]) + _u(reg)))
        elif tgt.kind == UNDEFINED:
            options.append(("undefined", bytes([0x07]) + _u(reg)))
        else:
            expr = bytes(tgt.arg)
            op = 0x10 if tgt.kind == EXPRESSION else 0x16
            options.append(("expression", bytes([op]) + _u(reg) + _u(len(expr)) + expr))
        name, code = self.pick(options)
        self.features.add(name)
        out += code

    def state(self, cur: tuple[CFARule, dict[int, Rule]], tgt: tuple[CFARule, dict[int, Rule]],
              initial: dict[int, Rule]) -> None:
        """Instructions that turn state ``cur`` into ``tgt`` (registers in random order)."""
        parts: list[tuple[str, int]] = [("cfa", -1)] + [("reg", r) for r in sorted(set(cur[1]) | set(tgt[1]))]
        self.rng.shuffle(parts)
        for kind, reg in parts:
            if kind == "cfa":
                self.cfa(cur[0], tgt[0])
            else:
                self.rule(reg, cur[1].get(reg), tgt[1].get(reg), initial)
            self.noise()
        if not self.in_cie and self.rng.random() < 0.1 and "restore_unset" not in self.avoid:
            # restore of a column neither the CIE nor the row has a rule for: no rule, as before.
            unset = [r for r in range(16) if r not in tgt[1] and r not in initial]
            if unset:
                reg = self.rng.choice(unset)
                self.out += bytes([0xC0 | reg]) if self.rng.random() < 0.5 else bytes([0x06]) + _u(reg)
                self.features.add("restore_unset")

    def noise(self) -> None:
        """Instructions that change no rule: nops and DW_CFA_GNU_args_size."""
        r = self.rng.random()
        if r < 0.05:
            self.out.append(0x00)
            self.features.add("nop")
        elif r < 0.08 and not self.in_cie and "args_size" not in self.avoid:
            self.out += bytes([0x2E]) + _u(self.rng.randrange(0, 256))
            self.features.add("args_size")

    def advance(self, delta: int, address: int, fde_encoding: int, field_address: int) -> None:
        """Move the location by ``delta`` bytes to ``address``; ``field_address`` is where this code starts."""
        caf = self.cie.code_alignment_factor
        assert delta > 0 and delta % caf == 0, (delta, caf)
        d = delta // caf
        options: list[tuple[str, bytes]] = []
        if d < 64:
            options.append(("advance_loc", bytes([0x40 | d])))
        if d < 256:
            options.append(("advance_loc1", bytes([0x02, d])))
        if d < 65536:
            options.append(("advance_loc2", bytes([0x03]) + struct.pack("<H", d)))
        options.append(("advance_loc4", bytes([0x04]) + struct.pack("<I", d)))
        here = field_address + len(self.out) + 1
        if (fde_encoding & 0x70) in (0x00, 0x10) and pointer_fits(address, fde_encoding, here):
            feat = "set_loc_pcrel" if fde_encoding & 0x70 == 0x10 else "set_loc"
            options.append((feat, bytes([0x01]) + encode_pointer(address, fde_encoding, here)))
        name, code = self.pick(options)
        # Now and then two advances: an extra, identical row.
        if d > 1 and self.rng.random() < 0.05 and "split_advance" not in self.avoid:
            first = self.rng.randrange(1, d)
            self.out.append(0x40 | min(first, 63))
            self.features.add("split_advance")
            self.advance((d - min(first, 63)) * caf, address, fde_encoding, field_address)
            return
        self.features.add(name)
        self.out += code


def encode_cie_instructions(cie: CIEModel, rng: random.Random, features: set[str],
                            avoid: frozenset[str] = frozenset()) -> bytes:
    """The CIE's initial instructions: CFA = rsp+8, return address at CFA-8."""
    enc = InstructionEncoder(cie, rng, features, in_cie=True, avoid=avoid)
    enc.state((CFARule(-1, 0, None), {}), (ENTRY_CFA, dict(ENTRY_REGS)), {})
    return bytes(enc.out)


def encode_fde_instructions(cie: CIEModel, fde: FDEModel, rng: random.Random, features: set[str],
                            code_address: int, avoid: frozenset[str] = frozenset()) -> bytes:
    """Instructions that make the decoder produce ``fde.rows``.

    ``code_address`` is the address of the first instruction byte (for
    pcrel ``DW_CFA_set_loc``). remember/restore_state are sprinkled in: a
    restore is always followed by the diff from the restored state, so any
    placement is valid. Features in ``avoid`` are not used where an
    alternative exists (see :meth:`InstructionEncoder.pick`).
    """
    enc = InstructionEncoder(cie, rng, features, avoid=avoid)
    initial = dict(ENTRY_REGS)
    cur: tuple[CFARule, dict[int, Rule]] = (ENTRY_CFA, dict(initial))
    stack: list[tuple[CFARule, dict[int, Rule]]] = []
    remembered_at: list[int] = []  # where each remember_state of the stack was written
    prev_loc = 0
    for row in fde.rows:
        tgt = (row.cfa, row.rules)
        if not stack and rng.random() < 0.05 and "restore_state_empty" not in avoid:
            enc.out.append(0x0B)  # nothing remembered: changes nothing (readelf: "Mismatched ...")
            features.add("restore_state_empty")
        if row.loc != prev_loc:
            if rng.random() < 0.2 and "remember_state" not in avoid:
                remembered_at.append(len(enc.out))
                enc.out.append(0x0A)
                features.add("remember_state")
                stack.append(cur)
            enc.advance(row.loc - prev_loc, fde.pc_begin + row.loc, cie.fde_encoding, code_address)
            if stack and rng.random() < 0.4:
                enc.out.append(0x0B)
                features.add("restore_state")
                cur = stack.pop()
                remembered_at.pop()
            prev_loc = row.loc
        enc.state(cur, tgt, initial)
        cur = (tgt[0], dict(tgt[1]))
    if remembered_at:
        if "remember_left" in avoid:
            # Never restored, so it changes no row: a nop of the same size says the same.
            for i in remembered_at:
                enc.out[i] = 0x00
        else:
            features.add("remember_left")
    if rng.random() < 0.1 and "advance_past_end" not in avoid:
        # A row past the FDE's end: readelf lists it, it governs no address.
        caf = cie.code_alignment_factor
        d = (fde.pc_range - prev_loc) // caf + 1 + rng.randrange(0, 200)
        enc.out += bytes([0x04]) + struct.pack("<I", d) + bytes([0x80 | 3]) + _u(rng.randrange(1, 8))
        features.add("advance_past_end")
    return bytes(enc.out)


# -- entries and sections ------------------------------------------------------------------------


@dataclass
class EncodedSection:
    """A CFI section's bytes, where each entry went, and the features the encoder used."""

    name: str
    address: int
    data: bytes
    cie_offsets: list[int]
    fde_offsets: list[int]
    features: set[str]
    dwarf64: bool


def _length_field(length: int, dwarf64: bool) -> bytes:
    return struct.pack("<IQ", 0xFFFFFFFF, length) if dwarf64 else struct.pack("<I", length)


def _pad(body: bytearray, header: int, align: int, rng: random.Random) -> None:
    """Pad with DW_CFA_nop so the whole entry is a multiple of ``align`` (what assemblers do), or not."""
    if rng.random() < 0.7:
        while (header + len(body)) % align:
            body.append(0)


def encode_section(model: SectionModel, rng: random.Random,
                   avoid: frozenset[str] = frozenset()) -> EncodedSection:
    """Encode ``model``; every CIE is written before its first FDE. ``avoid``: features not to use."""
    features: set[str] = set()
    out = bytearray()
    is_eh = model.is_eh
    d64 = model.dwarf64 and ("dwarf64_eh" if is_eh else "dwarf64") not in avoid
    if "leb128_pointer" in avoid and any(c.fde_encoding & 0x0F in (0x01, 0x09) for c in model.cies):
        from copy import deepcopy

        model = deepcopy(model)  # an oracle cannot read LEB128 pointers: say the same in udata8
        for c in model.cies:
            if c.fde_encoding & 0x0F in (0x01, 0x09):
                c.fde_encoding = 0x04
    if d64:
        features.add("dwarf64_eh" if is_eh else "dwarf64")
    head = 12 if d64 else 4
    idsize = 8 if d64 else 4
    cie_offsets: list[int | None] = [None] * len(model.cies)
    fde_offsets: list[int] = []
    upfront = rng.random() < 0.5

    def write_cie(i: int) -> None:
        cie = model.cies[i]
        offset = len(out)
        body = bytearray()
        body += (0 if is_eh else (1 << 8 * idsize) - 1).to_bytes(idsize, "little")
        body += CIE_HEADER.build(dict(
            version=cie.version, augmentation=cie.augmentation,
            address_size=8 if cie.version == 4 else None, segment_size=0 if cie.version == 4 else None,
            code_alignment_factor=cie.code_alignment_factor, data_alignment_factor=cie.data_alignment_factor,
            return_address_register=cie.return_address_register))
        if cie.augmentation.startswith("z"):
            aug = bytearray()
            aug_start = model.address + offset + head + len(body) + 1  # after a 1-byte length
            for ch in cie.augmentation[1:]:
                if ch == "R":
                    aug.append(cie.fde_encoding)
                elif ch == "L":
                    aug.append(cie.lsda_encoding)
                elif ch == "P":
                    aug.append(cie.personality_encoding)
                    aug += encode_pointer(cie.personality or 0, cie.personality_encoding, aug_start + len(aug))
            assert len(aug) < 128
            body += _u(len(aug)) + aug
        body += encode_cie_instructions(cie, rng, features, avoid)
        _pad(body, head, 8, rng)
        out.extend(_length_field(len(body), d64) + body)
        cie_offsets[i] = offset

    if upfront:
        for i in range(len(model.cies)):
            write_cie(i)
    for fde in model.fdes:
        if cie_offsets[fde.cie] is None:
            write_cie(fde.cie)
        cie = model.cies[fde.cie]
        offset = len(out)
        fde_offsets.append(offset)
        id_pos = offset + head
        cie_off = cie_offsets[fde.cie]
        assert cie_off is not None
        body = bytearray((id_pos - cie_off if is_eh else cie_off).to_bytes(idsize, "little"))
        enc = cie.fde_encoding
        here = model.address + id_pos + len(body)
        body += encode_pointer(fde.pc_begin, enc, here)
        body += encode_pointer(fde.pc_range, enc & 0x0F, 0)
        if enc & 0x0F in (0x01, 0x09):
            features.add("leb128_pointer")
        if cie.augmentation.startswith("z"):
            aug = b""
            if "L" in cie.augmentation:
                aug = encode_pointer(fde.lsda or 0, cie.lsda_encoding, model.address + id_pos + len(body) + 1)
            body += _u(len(aug)) + aug
        code_address = model.address + id_pos + len(body)
        body += encode_fde_instructions(cie, fde, rng, features, code_address, avoid)
        _pad(body, head, 8, rng)
        out.extend(_length_field(len(body), d64) + body)
    if is_eh and rng.random() < 0.5:
        out += bytes(4)  # the zero terminator is optional (crtend.o writes it when linking)
    return EncodedSection(model.name, model.address, bytes(out), [c for c in cie_offsets if c is not None],
                          fde_offsets, features, d64)


def encode_eh_frame_hdr(section: EncodedSection, fdes: list[FDEModel], hdr_address: int,
                        table_encoding: int = 0x3B) -> bytes:
    """.eh_frame_hdr for ``section``: a sorted table of (pc_begin, FDE address).

    ``table_encoding`` is 0x3B (datarel|sdata4, what linkers write), 0x3C
    (datarel|sdata8) or 0x04 (udata8, absolute).
    """
    head = EH_FRAME_HDR.build(dict(table_enc=table_encoding,
                                   eh_frame_ptr=section.address - (hdr_address + 4), fde_count=len(fdes)))
    table = sorted((f.pc_begin, section.address + off) for f, off in zip(fdes, section.fde_offsets))
    fmt = {0x3B: "<ii", 0x3C: "<qq", 0x04: "<QQ"}[table_encoding]
    base = hdr_address if table_encoding & 0x70 == 0x30 else 0
    return head + b"".join(struct.pack(fmt, loc - base, addr - base) for loc, addr in table)


# -- ELF -----------------------------------------------------------------------------------------


@dataclass
class ElfSection:
    name: str
    data: bytes
    address: int = 0
    type: int = SHT_PROGBITS
    flags: int = 0
    align: int = 8


def build_elf(sections: list[ElfSection], etype: int = ET_DYN) -> bytes:
    """A minimal ELF64 x86-64 file holding ``sections`` plus .shstrtab.

    For ET_DYN every allocated section is placed at the file offset equal to
    its address (so one PT_LOAD at 0 maps them all) and a PT_GNU_EH_FRAME
    points at .eh_frame_hdr when present. ET_REL has no program headers.
    """
    names = bytearray(b"\0")
    name_offsets = []
    for s in sections + [ElfSection(".shstrtab", b"")]:
        name_offsets.append(len(names))
        names += s.name.encode() + b"\0"
    phnum = 0
    hdr = next((s for s in sections if s.name == ".eh_frame_hdr"), None)
    if etype == ET_DYN:
        phnum = 2 if hdr is not None else 1
    body = bytearray(64 + 56 * phnum)
    placed: list[tuple[ElfSection, int]] = []
    alloc_end = 0
    for s in sections:
        if etype == ET_DYN and s.flags & SHF_ALLOC:
            if s.address < len(body):
                raise ValueError(f"{s.name} at {s.address:#x} overlaps the file's headers or another section")
            offset = s.address
            alloc_end = max(alloc_end, s.address + len(s.data))
        else:
            offset = (len(body) + s.align - 1) // s.align * s.align
        body += bytes(offset - len(body)) + s.data
        placed.append((s, offset))
    str_off = len(body)
    body += names
    shoff = (len(body) + 7) & ~7
    body += bytes(shoff - len(body))
    shdrs = [ELF64_SHDR.build(dict(sh_name=0, sh_type=0, sh_flags=0, sh_addr=0, sh_offset=0, sh_size=0,
                                   sh_link=0, sh_info=0, sh_addralign=0, sh_entsize=0))]
    for (s, offset), name in zip(placed, name_offsets):
        shdrs.append(ELF64_SHDR.build(dict(sh_name=name, sh_type=s.type, sh_flags=s.flags, sh_addr=s.address,
                                           sh_offset=offset, sh_size=len(s.data), sh_link=0, sh_info=0,
                                           sh_addralign=s.align, sh_entsize=0)))
    shdrs.append(ELF64_SHDR.build(dict(sh_name=name_offsets[-1], sh_type=SHT_STRTAB, sh_flags=0, sh_addr=0,
                                       sh_offset=str_off, sh_size=len(names), sh_link=0, sh_info=0,
                                       sh_addralign=1, sh_entsize=0)))
    body += b"".join(shdrs)
    body[0:64] = ELF64_EHDR.build(dict(e_type=etype, e_entry=0, e_phoff=64 if phnum else 0, e_shoff=shoff,
                                       e_phnum=phnum, e_shnum=len(shdrs), e_shstrndx=len(shdrs) - 1))
    if phnum:
        ph = ELF64_PHDR.build(dict(p_type=PT_LOAD, p_flags=5, p_offset=0, p_vaddr=0, p_paddr=0,
                                   p_filesz=alloc_end, p_memsz=alloc_end, p_align=0x1000))
        if hdr is not None:
            ph += ELF64_PHDR.build(dict(p_type=PT_GNU_EH_FRAME, p_flags=4, p_offset=hdr.address,
                                        p_vaddr=hdr.address, p_paddr=hdr.address, p_filesz=len(hdr.data),
                                        p_memsz=len(hdr.data), p_align=4))
        body[64:64 + len(ph)] = ph
    return bytes(body)


@dataclass
class EncodedFile:
    """A generated ELF image and what went into it."""

    elf: bytes
    section: EncodedSection
    hdr: bytes | None
    hdr_address: int
    etype: int


def encode_file(model: SectionModel, rng: random.Random, *, etype: int | None = None,
                with_hdr: bool | None = None, table_encoding: int | None = None,
                avoid: frozenset[str] = frozenset()) -> EncodedFile:
    """Encode ``model`` and wrap it in an ELF file with .text (nops) of the model's size.

    A model whose text lies above 16 MiB is written as ET_REL (ET_DYN places
    sections at file offsets equal to their addresses).
    """
    sec = encode_section(model, rng, avoid)
    if etype is None:
        etype = ET_REL if model.text_address >= 1 << 24 else rng.choice([ET_DYN, ET_REL])
    hdr = None
    hdr_address = 0
    text = ElfSection(".text", b"\x90" * model.text_size, model.text_address, flags=SHF_ALLOC | SHF_EXECINSTR,
                      align=16)
    secs = [text]
    if model.is_eh:
        if with_hdr is None:
            with_hdr = rng.random() < 0.6
        if with_hdr:
            hdr_address = (model.address + len(sec.data) + 0x10) & ~0x7
            table_encoding = table_encoding or rng.choice([0x3B, 0x3B, 0x3C, 0x04])
            hdr = encode_eh_frame_hdr(sec, model.fdes, hdr_address, table_encoding)
        secs.append(ElfSection(".eh_frame", sec.data, model.address, flags=SHF_ALLOC))
        if hdr is not None:
            secs.append(ElfSection(".eh_frame_hdr", hdr, hdr_address, flags=SHF_ALLOC, align=4))
    else:
        secs.append(ElfSection(".debug_frame", sec.data, 0))
    return EncodedFile(build_elf(secs, etype), sec, hdr, hdr_address, etype)


__all__ = [
    "CIE_HEADER", "EH_FRAME_HDR", "ELF64_EHDR", "ELF64_PHDR", "ELF64_SHDR", "ET_DYN", "ET_REL", "ElfSection",
    "Encoded", "EncodedFile", "EncodedSection", "InstructionEncoder", "build_elf", "encode_cie_instructions",
    "encode_eh_frame_hdr", "encode_fde_instructions", "encode_file", "encode_pointer", "encode_section",
    "pointer_fits",
]
