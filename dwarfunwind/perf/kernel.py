"""Kernel frames of perf samples: the kernel's own callchain, named from ``/proc/kallsyms``.

A sample taken in the kernel (an event without ``:u``) carries the kernel's callchain
(``PERF_SAMPLE_CALLCHAIN``, the part after ``PERF_CONTEXT_KERNEL``); ``perf script``
prints it above the user frames, named from kallsyms. We do the same when the kernel
that runs here is the one that was recorded: its build-id (``/sys/kernel/notes``)
equals the one perf.data recorded for ``[kernel.kallsyms]``, and addresses are moved
by the difference between ``_text`` then (the ``[kernel.kallsyms]_text`` MMAP's pgoff)
and now (KASLR). Otherwise, or when kallsyms hides its addresses (kptr_restrict), the
frames keep their addresses without names and one line says why.
"""

from __future__ import annotations

import bisect
import itertools

from ..elf.reader import parse_notes
from ..errors import DwarfUnwindError
from .callchain import PERF_CONTEXT_KERNEL, context_pcs

#: Lines of /proc/kallsyms read at most (a kernel with every module loaded has ~300,000).
MAX_KALLSYMS_LINES = 4 << 20
#: kallsyms types that name code (perf's symbol_type__filter for text).
_TEXT_TYPES = frozenset("tTwW")


def kernel_pcs(callchain: list[int]) -> list[int]:
    """The kernel part of a sample's callchain, innermost first (empty for a sample in user space)."""
    return context_pcs(callchain, PERF_CONTEXT_KERNEL, len(callchain))


class KernelSymbols:
    """Text symbols of kallsyms: ``lookup(address)`` -> ``(name, offset)`` of the nearest one below."""

    def __init__(self, symbols: list[tuple[int, str]]) -> None:
        symbols.sort()
        self._starts = [a for a, _ in symbols]
        self._names = [n for _, n in symbols]
        self.text = next((a for a, n in symbols if n == "_text"), None)

    @classmethod
    def parse(cls, lines: list[str]) -> "KernelSymbols":
        symbols = []
        for line in lines:
            fields = line.split()  # "ffffffff81000000 T _text" or "... t name\t[module]"
            if len(fields) >= 3 and fields[1] in _TEXT_TYPES:
                try:
                    address = int(fields[0], 16)
                except ValueError:
                    continue
                if address:
                    name = fields[2]
                    symbols.append((address, f"{name} {fields[3]}" if len(fields) > 3 else name))
        return cls(symbols)

    def __len__(self) -> int:
        return len(self._starts)

    def lookup(self, address: int) -> tuple[str, int] | None:
        i = bisect.bisect_right(self._starts, address) - 1
        return (self._names[i], address - self._starts[i]) if i >= 0 else None


def running_build_id(notes: str = "/sys/kernel/notes") -> bytes | None:
    """The build-id of the kernel running here, or None."""
    try:
        with open(notes, "rb") as f:
            raw = f.read(1 << 16)
        return next((n.desc for n in parse_notes(raw, notes) if n.name == b"GNU" and n.type == 3), None)
    except (OSError, DwarfUnwindError):  # no notes file, or an odd one: the check is skipped
        return None


def load_kernel_symbols(recorded_build_id: bytes | None, recorded_text: int | None,
                        kallsyms: str = "/proc/kallsyms",
                        notes: str = "/sys/kernel/notes") -> tuple[KernelSymbols | None, int, str | None]:
    """``(symbols, delta, why)``: kallsyms and the amount to add to a recorded address to look it up
    there; or ``(None, 0, why)`` with the reason kernel frames stay unnamed."""
    running = running_build_id(notes)
    if recorded_build_id and running and recorded_build_id != running:
        return None, 0, (f"kernel frames are not named: perf.data was recorded on kernel build-id "
                         f"{recorded_build_id.hex()}, this machine runs {running.hex()}")
    try:
        with open(kallsyms, encoding="utf-8", errors="replace") as f:
            lines = list(itertools.islice(f, MAX_KALLSYMS_LINES))
    except OSError as e:
        return None, 0, f"kernel frames are not named: {kallsyms}: {e.strerror or e}"
    symbols = KernelSymbols.parse(lines)
    if not len(symbols):
        return None, 0, (f"kernel frames are not named: {kallsyms} shows no addresses "
                         "(kernel.kptr_restrict; run as root)")
    delta = symbols.text - recorded_text if recorded_text is not None and symbols.text is not None else 0
    return symbols, delta, None
