"""DWARF expressions as used in CFI (DWARF 5, section 2.5): evaluation and disassembly.

The evaluator does no I/O. Registers and memory come from the caller through
:class:`MachineState`; an unknown register or unreadable memory surfaces as
the caller's exception (for example :class:`RegisterUnavailable` or
:class:`~dwarfunwind.errors.MemoryReadError`). Steps and stack depth are
bounded, so a looping expression ends in :class:`ExpressionError`.
"""

from __future__ import annotations

import struct

from ..arch.x86_64 import llvm_register_name
from ..errors import ExpressionError
from ..errors import RegisterUnavailable as RegisterUnavailable  # (defined there, light to import; named here too)
from .budget import Budget
from .encoding import EncodingError, PointerBases, encoded_size, read_encoded, read_sleb128, read_uleb128

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Protocol
else:  # typing costs ~5 ms of start-up (dwarfunwind/_typing.py)
    from .._typing import Protocol

MASK = (1 << 64) - 1
SIGN = 1 << 63

#: Bounds that make a hostile expression end: operations executed, and stack depth.
MAX_STEPS = 10_000
MAX_STACK = 1_000


class MachineState(Protocol):
    """What an expression (and an unwind step) may ask of the machine."""

    def read_register(self, regno: int) -> int:
        """The value of DWARF register ``regno``; raise :class:`RegisterUnavailable` if unknown."""
        ...

    def read_memory(self, address: int, size: int) -> bytes:
        """``size`` bytes at ``address``; raise :class:`~dwarfunwind.errors.MemoryReadError` if unmapped."""
        ...


# Operand kinds: 'u1' 'u2' 'u4' 'u8' 's1' 's2' 's4' 's8' 'uleb' 'sleb' 'reg_sleb' (bregx) 'block' (size uleb + bytes).
_FIXED = {
    "u1": struct.Struct("<B"), "s1": struct.Struct("<b"),
    "u2": struct.Struct("<H"), "s2": struct.Struct("<h"),
    "u4": struct.Struct("<I"), "s4": struct.Struct("<i"),
    "u8": struct.Struct("<Q"), "s8": struct.Struct("<q"),
}

#: opcode -> (name, operand kinds). The full DWARF 5 table, so that disassembly names
#: every operation even where evaluation in CFI refuses it.
OPS: dict[int, tuple[str, tuple[str, ...]]] = {
    0x03: ("DW_OP_addr", ("u8",)),
    0x06: ("DW_OP_deref", ()),
    0x08: ("DW_OP_const1u", ("u1",)), 0x09: ("DW_OP_const1s", ("s1",)),
    0x0A: ("DW_OP_const2u", ("u2",)), 0x0B: ("DW_OP_const2s", ("s2",)),
    0x0C: ("DW_OP_const4u", ("u4",)), 0x0D: ("DW_OP_const4s", ("s4",)),
    0x0E: ("DW_OP_const8u", ("u8",)), 0x0F: ("DW_OP_const8s", ("s8",)),
    0x10: ("DW_OP_constu", ("uleb",)), 0x11: ("DW_OP_consts", ("sleb",)),
    0x12: ("DW_OP_dup", ()), 0x13: ("DW_OP_drop", ()), 0x14: ("DW_OP_over", ()),
    0x15: ("DW_OP_pick", ("u1",)), 0x16: ("DW_OP_swap", ()), 0x17: ("DW_OP_rot", ()),
    0x18: ("DW_OP_xderef", ()), 0x19: ("DW_OP_abs", ()), 0x1A: ("DW_OP_and", ()),
    0x1B: ("DW_OP_div", ()), 0x1C: ("DW_OP_minus", ()), 0x1D: ("DW_OP_mod", ()),
    0x1E: ("DW_OP_mul", ()), 0x1F: ("DW_OP_neg", ()), 0x20: ("DW_OP_not", ()),
    0x21: ("DW_OP_or", ()), 0x22: ("DW_OP_plus", ()), 0x23: ("DW_OP_plus_uconst", ("uleb",)),
    0x24: ("DW_OP_shl", ()), 0x25: ("DW_OP_shr", ()), 0x26: ("DW_OP_shra", ()),
    0x27: ("DW_OP_xor", ()), 0x28: ("DW_OP_bra", ("s2",)), 0x29: ("DW_OP_eq", ()),
    0x2A: ("DW_OP_ge", ()), 0x2B: ("DW_OP_gt", ()), 0x2C: ("DW_OP_le", ()),
    0x2D: ("DW_OP_lt", ()), 0x2E: ("DW_OP_ne", ()), 0x2F: ("DW_OP_skip", ("s2",)),
    0x90: ("DW_OP_regx", ("uleb",)), 0x91: ("DW_OP_fbreg", ("sleb",)),
    0x92: ("DW_OP_bregx", ("uleb", "sleb")), 0x93: ("DW_OP_piece", ("uleb",)),
    0x94: ("DW_OP_deref_size", ("u1",)), 0x95: ("DW_OP_xderef_size", ("u1",)),
    0x96: ("DW_OP_nop", ()), 0x97: ("DW_OP_push_object_address", ()),
    0x98: ("DW_OP_call2", ("u2",)), 0x99: ("DW_OP_call4", ("u4",)), 0x9A: ("DW_OP_call_ref", ("u4",)),
    0x9B: ("DW_OP_form_tls_address", ()), 0x9C: ("DW_OP_call_frame_cfa", ()),
    0x9D: ("DW_OP_bit_piece", ("uleb", "uleb")), 0x9E: ("DW_OP_implicit_value", ("block",)),
    0x9F: ("DW_OP_stack_value", ()),
    0xA0: ("DW_OP_implicit_pointer", ("u4", "sleb")), 0xA1: ("DW_OP_addrx", ("uleb",)),
    0xA2: ("DW_OP_constx", ("uleb",)), 0xA3: ("DW_OP_entry_value", ("block",)),
    0xA4: ("DW_OP_const_type", ("uleb", "block1")), 0xA5: ("DW_OP_regval_type", ("uleb", "uleb")),
    0xA6: ("DW_OP_deref_type", ("u1", "uleb")), 0xA7: ("DW_OP_xderef_type", ("u1", "uleb")),
    0xA8: ("DW_OP_convert", ("uleb",)), 0xA9: ("DW_OP_reinterpret", ("uleb",)),
    0xE0: ("DW_OP_GNU_push_tls_address", ()), 0xF0: ("DW_OP_GNU_uninit", ()),
    0xF1: ("DW_OP_GNU_encoded_addr", ("encoded",)),
    0xF3: ("DW_OP_GNU_entry_value", ("block",)),
}
for _n in range(32):
    OPS[0x30 + _n] = (f"DW_OP_lit{_n}", ())
    OPS[0x50 + _n] = (f"DW_OP_reg{_n}", ())
    OPS[0x70 + _n] = (f"DW_OP_breg{_n}", ("sleb",))


def _operands(expr: bytes, pos: int, kinds: tuple[str, ...]) -> tuple[list[int | bytes], int]:
    values: list[int | bytes] = []
    v: int | bytes
    for kind in kinds:
        if kind == "encoded":  # DW_OP_GNU_encoded_addr: [encoding, raw value, offset of the value]
            encoding, v, start, pos = _encoded_operand(expr, pos)
            values += [encoding, v, start]
            continue
        if kind == "uleb":
            v, pos = read_uleb128(expr, pos)
        elif kind == "sleb":
            v, pos = read_sleb128(expr, pos)
        elif kind in ("block", "block1"):
            if kind == "block":
                size, pos = read_uleb128(expr, pos)
            else:
                size, pos = expr[pos], pos + 1
            if pos + size > len(expr):
                raise ExpressionError(f"block operand runs past the expression at byte {pos}")
            v, pos = expr[pos : pos + size], pos + size
        else:
            s = _FIXED[kind]
            if pos + s.size > len(expr):
                raise ExpressionError(f"operand runs past the expression at byte {pos}")
            (v,) = s.unpack_from(expr, pos)
            pos += s.size
        values.append(v)
    return values, pos


_FORMATS = {0x00: "absptr", 0x01: "uleb128", 0x02: "udata2", 0x03: "udata4", 0x04: "udata8", 0x08: "signed",
            0x09: "sleb128", 0x0A: "sdata2", 0x0B: "sdata4", 0x0C: "sdata8"}
_APPLICATIONS = {0x10: "pcrel", 0x20: "textrel", 0x30: "datarel", 0x40: "funcrel", 0x50: "aligned"}


def encoding_name(encoding: int) -> str:
    """A DW_EH_PE encoding as words: ``pcrel|sdata4`` (0x1b), ``indirect|pcrel|sdata4`` (0x9b), ``udata4``."""
    if encoding == 0xFF:
        return "omit"
    words = ["indirect"] if encoding & 0x80 else []
    app = encoding & 0x70
    if app:
        words.append(_APPLICATIONS.get(app, f"{app:#04x}"))
    words.append(_FORMATS.get(encoding & 0x0F, f"{encoding & 0x0F:#04x}"))
    return "|".join(words)


def _encoded_operand(expr: bytes, pos: int) -> tuple[int, int, int, int]:
    """DW_OP_GNU_encoded_addr's operand at ``pos`` (the encoding byte): ``(encoding, raw value, offset of
    the value, next position)``; the raw value is as stored, before its application (pcrel, ...)."""
    at = pos - 1
    if pos >= len(expr):
        raise ExpressionError(f"DW_OP_GNU_encoded_addr at byte {at}: the encoding byte is missing")
    encoding = expr[pos]
    pos += 1
    app = encoding & 0x70
    if encoding == 0xFF or app > 0x50 or (encoding & 0x0F) not in _FORMATS:
        raise ExpressionError(f"DW_OP_GNU_encoded_addr at byte {at}: unsupported pointer encoding "
                              f"{encoding:#04x} ({encoding_name(encoding)})")
    # Only the format is read here (aligned also moves the position: to the pointer size, from the
    # expression's own address when it is known).
    raw_encoding = (encoding & 0x0F) | (app if app == 0x50 else 0)
    address = getattr(expr, "address", 0)
    try:
        value, end = read_encoded(expr, pos, raw_encoding, PointerBases(address))
    except EncodingError:
        raise ExpressionError(f"DW_OP_GNU_encoded_addr at byte {at}: the {encoding_name(encoding)} pointer "
                              "runs past the expression") from None
    assert value is not None
    size = encoded_size(encoding)  # (None for LEB128: it starts where the encoding byte ends)
    return encoding, value, end - size if size else pos, end


def _encoded_value(expr: bytes, pos: int, machine: MachineState, bias: int, func: int | None) -> tuple[int, int]:
    """Evaluate DW_OP_GNU_encoded_addr whose operand starts at ``pos``: ``(value, next position)``.

    As libgcc's ``execute_stack_op`` (``read_encoded_value``): ``pcrel`` is relative to the
    address of the value itself, which needs the expression's address (a
    :class:`~dwarfunwind.cfi.rules.LocatedExpression`) plus the module's load ``bias``; an absolute
    (absptr, aligned) value is an address of the file, moved by ``bias`` as ``DW_OP_addr`` is;
    ``funcrel`` is relative to ``func``, the start of the FDE's function (libgcc's region start);
    ``indirect`` reads the pointer at the address. ``textrel`` and ``datarel`` have no base on
    x86-64 (libgcc leaves both bases null, gdb's FDE reader takes .text and .got): refused.
    """
    at = pos - 1
    encoding, value, start, pos = _encoded_operand(expr, pos)
    app = encoding & 0x70
    if app == 0x00 or app == 0x50:
        value += bias
    elif app == 0x10:
        address = getattr(expr, "address", None)
        if address is None:
            raise ExpressionError(f"DW_OP_GNU_encoded_addr at byte {at}: a {encoding_name(encoding)} "
                                  "pointer in an expression whose address is unknown (not read from .eh_frame)")
        value += address + start + bias
    elif app == 0x40:
        if func is None:
            raise ExpressionError(f"DW_OP_GNU_encoded_addr at byte {at}: a {encoding_name(encoding)} pointer without "
                                  "the function's start address")
        value += func
    else:
        raise ExpressionError(f"DW_OP_GNU_encoded_addr at byte {at}: {encoding_name(encoding)} pointers (encoding "
                              f"{encoding:#04x}) are not supported: no {_APPLICATIONS[app][:4]} base on x86-64")
    value &= MASK
    if encoding & 0x80:
        value = int.from_bytes(machine.read_memory(value, 8), "little")
    return value, pos


def decode(expr: bytes) -> list[tuple[int, int, list[int | bytes]]]:
    """The operations of ``expr`` as (offset, opcode, operands)."""
    ops = []
    pos = 0
    try:
        while pos < len(expr):
            start = pos
            op = expr[pos]
            entry = OPS.get(op)
            if entry is None:
                raise ExpressionError(f"unknown DW_OP {op:#04x} at byte {start}")
            args, pos = _operands(expr, pos + 1, entry[1])
            ops.append((start, op, args))
    except (EncodingError, IndexError):
        raise ExpressionError(f"expression truncated at byte {pos}") from None
    return ops


def disassemble(expr: bytes) -> str:
    """``expr`` in llvm-dwarfdump's spelling, e.g. ``DW_OP_breg7 RSP+8, DW_OP_deref``."""
    parts = []
    for _, op, args in decode(expr):
        name = OPS[op][0]
        ints = [a for a in args if isinstance(a, int)]
        if 0x70 <= op <= 0x8F:
            parts.append(f"{name} {llvm_register_name(op - 0x70)}{ints[0]:+d}")
        elif 0x50 <= op <= 0x6F:
            parts.append(f"{name} {llvm_register_name(op - 0x50)}")
        elif op == 0x92:
            parts.append(f"{name} {llvm_register_name(ints[0])}{ints[1]:+d}")
        elif op == 0x90:
            parts.append(f"{name} {llvm_register_name(ints[0])}")
        elif op == 0xF1:
            parts.append(f"{name} {_encoded_text(expr, *ints)}")
        else:
            text = [name]
            for kind, v in zip(OPS[op][1], args):
                if isinstance(v, bytes):
                    text.append(f"0x{len(v):x} " + " ".join(f"0x{b:02x}" for b in v))
                elif kind[0] == "s":
                    text.append(f"{v:d}")
                else:
                    text.append(f"0x{v:x}")
            parts.append(" ".join(text))
    return ", ".join(parts)


def _encoded_text(expr: bytes, encoding: int, value: int, start: int) -> str:
    """DW_OP_GNU_encoded_addr's operand: the encoding (byte and words) and the address it names, as
    readelf resolves it (the file's address; pcrel from the expression's address when it is known)."""
    app = encoding & 0x70
    text = f"{encoding:#04x} {encoding_name(encoding)} "
    address = getattr(expr, "address", None)
    if app == 0x10 and address is not None:
        value += address + start
    elif app in _BASE_WORDS:
        return text + (f"{_BASE_WORDS[app]}{value:+#x}")
    return text + f"{value & MASK:#x}"


_BASE_WORDS = {0x10: ".", 0x20: "text", 0x30: "data", 0x40: "func"}


def _signed(v: int) -> int:
    return v - (1 << 64) if v & SIGN else v


def evaluate(expr: bytes, machine: MachineState, initial: list[int] | None = None,
             budget: Budget | None = None, bias: int = 0, func: int | None = None) -> int:
    """Evaluate a CFI expression and return the value on top of the stack.

    ``initial`` is the starting stack: empty for ``DW_CFA_def_cfa_expression``,
    ``[cfa]`` for register expression rules. One expression runs at most
    :data:`MAX_STEPS` operations; with a ``budget`` they are also charged to the
    input's total (``expression_steps``), which raises BudgetExceeded when spent.

    ``bias`` is the load bias of the module the expression came from: ``DW_OP_addr`` and the
    absolute forms of ``DW_OP_GNU_encoded_addr`` name addresses of the file and are moved by it
    (gdb adds its ``text_section_offset``; libgcc reads the relocated bytes). ``func`` is the
    (runtime) start of the FDE's function, the base of a ``funcrel`` encoded address.
    """
    stack: list[int] = list(initial or ())
    pos = 0
    end = len(expr)
    steps = 0
    try:
        while pos < end:
            steps += 1
            if steps > MAX_STEPS:
                raise ExpressionError(f"expression did not finish within {MAX_STEPS} steps")
            if len(stack) > MAX_STACK:
                raise ExpressionError(f"expression stack deeper than {MAX_STACK}")
            op = expr[pos]
            pos += 1
            if 0x70 <= op <= 0x8F:  # DW_OP_bregN
                off, pos = read_sleb128(expr, pos)
                stack.append((machine.read_register(op - 0x70) + off) & MASK)
            elif 0x30 <= op <= 0x4F:
                stack.append(op - 0x30)
            elif op == 0x06:  # deref
                stack.append(int.from_bytes(machine.read_memory(stack.pop(), 8), "little"))
            elif op == 0x94:  # deref_size
                size = expr[pos]
                pos += 1
                if not 1 <= size <= 8:
                    raise ExpressionError(f"DW_OP_deref_size of {size} bytes")
                stack.append(int.from_bytes(machine.read_memory(stack.pop(), size), "little"))
            elif op == 0x23:  # plus_uconst
                v, pos = read_uleb128(expr, pos)
                stack.append((stack.pop() + v) & MASK)
            elif op == 0x92:  # bregx
                reg, pos = read_uleb128(expr, pos)
                off, pos = read_sleb128(expr, pos)
                stack.append((machine.read_register(reg) + off) & MASK)
            elif op in _BINARY:
                b = stack.pop()
                a = stack.pop()
                stack.append(_BINARY[op](a, b) & MASK)
            elif op in _UNARY:
                stack.append(_UNARY[op](stack.pop()) & MASK)
            elif op == 0x28 or op == 0x2F:  # bra, skip
                (delta,) = _FIXED["s2"].unpack_from(expr, pos)
                pos += 2
                if op == 0x2F or stack.pop() != 0:
                    pos += delta
                    if not 0 <= pos <= end:
                        raise ExpressionError(f"branch to byte {pos}, outside the expression")
            elif op == 0x12:
                stack.append(stack[-1])
            elif op == 0x13:
                stack.pop()
            elif op == 0x14:
                stack.append(stack[-2])
            elif op == 0x15:
                idx = expr[pos]
                pos += 1
                if idx >= len(stack):
                    raise ExpressionError(f"DW_OP_pick {idx} beyond a stack of {len(stack)}")
                stack.append(stack[-1 - idx])
            elif op == 0x16:
                stack[-1], stack[-2] = stack[-2], stack[-1]
            elif op == 0x17:
                stack[-1], stack[-2], stack[-3] = stack[-2], stack[-3], stack[-1]
            elif op == 0x96:
                pass
            elif op == 0x03:  # DW_OP_addr
                (v,) = _FIXED["u8"].unpack_from(expr, pos)
                pos += 8
                stack.append((v + bias) & MASK)
            elif op == 0xF1:
                v, pos = _encoded_value(expr, pos, machine, bias, func)
                stack.append(v)
            elif op in _CONSTS:
                kind = _CONSTS[op]
                if kind == "uleb":
                    v, pos = read_uleb128(expr, pos)
                elif kind == "sleb":
                    v, pos = read_sleb128(expr, pos)
                else:
                    s = _FIXED[kind]
                    (v,) = s.unpack_from(expr, pos)
                    pos += s.size
                stack.append(v & MASK)
            else:
                name = OPS.get(op, (f"DW_OP {op:#04x}",))[0]
                raise ExpressionError(f"{name} is not valid in a CFI expression (byte {pos - 1})")
    except IndexError:
        if pos > end or (pos < end and not stack):
            raise ExpressionError(f"expression truncated at byte {pos}") from None
        raise ExpressionError(f"expression stack underflow at byte {pos - 1}") from None
    except (struct.error, EncodingError):
        raise ExpressionError(f"expression truncated at byte {pos}") from None
    except ZeroDivisionError:
        raise ExpressionError("division by zero in expression") from None
    finally:
        if budget is not None:
            budget.spend_expression_steps(steps)
    if not stack:
        raise ExpressionError("expression left an empty stack")
    return stack[-1]


def _div(a: int, b: int) -> int:
    a, b = _signed(a), _signed(b)
    q = abs(a) // abs(b)
    return q if (a < 0) == (b < 0) else -q


_BINARY = {
    0x1A: lambda a, b: a & b,
    0x1B: _div,
    0x1C: lambda a, b: a - b,
    0x1D: lambda a, b: a % b,
    0x1E: lambda a, b: a * b,
    0x21: lambda a, b: a | b,
    0x22: lambda a, b: a + b,
    0x24: lambda a, b: a << b if b < 64 else 0,
    0x25: lambda a, b: a >> b,
    0x26: lambda a, b: _signed(a) >> min(b, 63),
    0x27: lambda a, b: a ^ b,
    0x29: lambda a, b: int(a == b),
    0x2A: lambda a, b: int(_signed(a) >= _signed(b)),
    0x2B: lambda a, b: int(_signed(a) > _signed(b)),
    0x2C: lambda a, b: int(_signed(a) <= _signed(b)),
    0x2D: lambda a, b: int(_signed(a) < _signed(b)),
    0x2E: lambda a, b: int(a != b),
}
_UNARY = {
    0x19: lambda a: abs(_signed(a)),
    0x1F: lambda a: -a,
    0x20: lambda a: ~a,
}
_CONSTS = {
    0x08: "u1", 0x09: "s1", 0x0A: "u2", 0x0B: "s2", 0x0C: "u4", 0x0D: "s4",
    0x0E: "u8", 0x0F: "s8", 0x10: "uleb", 0x11: "sleb",
}
