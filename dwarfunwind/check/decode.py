"""x86-64 instruction decoding for ``check``, through iced-x86 (imported only here, lazily).

iced-x86 was chosen over capstone by measurement on libc.so.6's .text (335,736
instructions, see bench/bench_check.py and the commit message): iced decodes
about 3.4 M instructions/s and still ~0.9 M/s when the checker reads
``stack_pointer_increment``, flow control and operands, while capstone manages
0.32 M/s without operand detail and 0.024 M/s with it. iced also gives the
written registers and memory of every instruction (``InstructionInfoFactory``),
which the checker needs for instructions it does not model one by one.
"""

from __future__ import annotations

from typing import Any

from ..errors import DwarfUnwindError


class DecoderMissing(DwarfUnwindError):
    """iced-x86 is not installed."""


_iced: Any = None


def iced() -> Any:
    """The iced_x86 module, imported on first use."""
    global _iced
    if _iced is None:
        try:
            import iced_x86
        except ImportError as e:  # declared in pyproject.toml; a broken install still gets one line
            raise DecoderMissing(f"check needs the iced-x86 decoder (pip install iced-x86): {e}") from None
        _iced = iced_x86
    return _iced


def decode_range(code: bytes | memoryview, address: int) -> list[Any]:
    """Every instruction of ``code`` (at ``address``), in order, by linear sweep.

    Invalid bytes decode as one-byte instructions with ``is_invalid`` set
    (iced's behaviour); the caller decides what they mean.
    """
    decoder = iced().Decoder(64, code, ip=address)
    return list(decoder)


_formatter: Any = None


def format_instruction(ins: Any) -> str:
    """AT&T syntax, as objdump and gas print it (``push %rbx``)."""
    global _formatter
    if _formatter is None:
        x = iced()
        _formatter = x.Formatter(x.FormatterSyntax.GAS)
        _formatter.space_after_operand_separator = False
        _formatter.gas_show_mnemonic_size_suffix = False
    return str(_formatter.format(ins))
