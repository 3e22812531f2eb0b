"""``check``: hold an ELF file's CFI rows against its machine code, instruction by instruction.

The library call is :func:`check_file`; the CLI (``python -m dwarfunwind check``)
lives in :mod:`.cli`. Rows come from :mod:`dwarfunwind.cfi` (the same decoder
that matches readelf), instructions from iced-x86 (:mod:`.decode`), and the
abstract interpreter is :mod:`.analyze`. See docs/check.md.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable

from ..cfi.program import row_table
from ..cfi.sections import FDE
from ..elf.module import ElfFile
from ..elf.reader import ET_REL
from ..errors import DwarfUnwindError, ELFError
from .findings import COVERAGE, FileReport, Finding, FunctionResult

__all__ = ["check_file", "FileChecker", "FileReport", "FunctionResult", "Finding", "NORETURN"]

SHF_EXECINSTR = 0x4

#: Functions that never return: a call to one ends the path (gcc places unrelated code after it).
NORETURN = frozenset({
    "abort", "exit", "_exit", "_Exit", "quick_exit", "__stack_chk_fail", "__stack_chk_fail_local",
    "__assert_fail", "__assert_perror_fail", "__assert", "__fortify_fail", "__chk_fail", "__libc_fatal",
    "__fortify_fail_abort", "err", "errx", "verr", "verrx", "pthread_exit",
    "longjmp", "_longjmp", "siglongjmp", "__longjmp_chk", "__cxa_throw", "__cxa_rethrow",
    "__cxa_bad_cast", "__cxa_bad_typeid", "__cxa_throw_bad_array_new_length", "__cxa_call_terminate",
    "__cxa_pure_virtual", "__cxa_deleted_virtual", "_Unwind_Resume", "__libc_start_main", "__libc_main",
    "_dl_signal_error", "_dl_signal_exception", "_dl_fatal_printf", "__malloc_assert", "malloc_printerr",
    "__libc_message", "__libc_message_impl",
    # libstdc++'s noreturn functions, by their mangled names (names are compared raw; the list was
    # taken from libstdc++.so.6's dynamic symbols through c++filt).
    "_ZN9__gnu_cxx27__verbose_terminate_handlerEv", "_ZSt16__throw_bad_castv", "_ZSt17__throw_bad_allocv",
    "_ZSt17rethrow_exceptionNSt15__exception_ptr13exception_ptrE", "_ZSt18__throw_bad_typeidv",
    "_ZSt19__throw_ios_failurePKc", "_ZSt19__throw_ios_failurePKci", "_ZSt19__throw_logic_errorPKc",
    "_ZSt19__throw_range_errorPKc", "_ZSt19__throw_regex_errorNSt15regex_constants10error_typeE",
    "_ZSt20__throw_domain_errorPKc", "_ZSt20__throw_future_errori", "_ZSt20__throw_length_errorPKc",
    "_ZSt20__throw_out_of_rangePKc", "_ZSt20__throw_system_errori", "_ZSt21__throw_bad_exceptionv",
    "_ZSt21__throw_runtime_errorPKc", "_ZSt22__throw_overflow_errorPKc", "_ZSt23__throw_underflow_errorPKc",
    "_ZSt24__throw_invalid_argumentPKc", "_ZSt24__throw_out_of_range_fmtPKcz", "_ZSt25__throw_bad_function_callv",
    "_ZSt28__throw_bad_array_new_lengthv", "_ZSt9terminatev",
    "__libc_dynarray_at_failure", "_dl_signal_cerror",
})


class _Code:
    """Bytes of the executable sections, by address."""

    def __init__(self, elf: ElfFile) -> None:
        self.spans: list[tuple[int, int, bytes]] = []
        #: .plt, .plt.got, .plt.sec: linker-made stubs, described by linker-made FDEs without symbols.
        self.plt: list[tuple[int, int]] = []  # (start, end)
        for s in elf.reader.sections:
            if s.flags & SHF_EXECINSTR and s.type != 8 and s.size:
                self.spans.append((s.addr, s.addr + s.size, elf.reader.section_data(s)))
                if s.name.startswith(".plt"):
                    self.plt.append((s.addr, s.addr + s.size))
        self.spans.sort()
        self.starts = [s[0] for s in self.spans]

    def in_plt(self, addr: int) -> bool:
        return any(b <= addr < e for b, e in self.plt)

    def upto(self, addr: int, size: int) -> bytes | None:
        """Up to ``size`` bytes at ``addr``, fewer where the section ends; None outside code."""
        i = bisect.bisect_right(self.starts, addr) - 1
        if i < 0 or addr >= self.spans[i][1]:
            return None
        b, e, data = self.spans[i]
        return data[addr - b: min(addr + size, e) - b]

    def at(self, addr: int, size: int) -> bytes | None:
        i = bisect.bisect_right(self.starts, addr) - 1
        if i < 0:
            return None
        b, e, data = self.spans[i]
        if addr + size > e:
            return None
        return data[addr - b: addr - b + size]


class _Plt:
    """PLT stub address -> the name of the function it jumps to, as BFD names stubs
    (:meth:`dwarfunwind.elf.module.ElfFile.plt_symbols`: each stub's GOT slot and that slot's
    dynamic relocation, whatever the order of .rela.plt and the size of the entries)."""

    def __init__(self, elf: ElfFile) -> None:
        entries = sorted(elf.plt_symbols())
        self._starts = [addr for addr, _, _ in entries]
        self._entries = entries
        #: Entry address -> function name (without ``@plt``).
        self.names = {addr: name.removesuffix("@plt") for addr, _, name in entries}

    def at(self, pc: int) -> tuple[str, int] | None:
        """(``name@plt``, offset) of the stub holding ``pc``."""
        i = bisect.bisect_right(self._starts, pc) - 1
        if i >= 0:
            addr, size, name = self._entries[i]
            if pc < addr + size:
                return name, pc - addr
        return None


class FileChecker:
    """One ELF file opened for checking: its code, symbols, PLT names and FDEs.

    :func:`check_file` drives it over every FDE; :meth:`check_fde` checks one
    FDE (also a modified copy of one: see :mod:`.mutation`).
    """

    def __init__(self, path: str) -> None:
        from .coverage import func_symbols

        self.path = path
        self.elf = elf = ElfFile.open(path, find_debug=False)
        if elf.reader.type == ET_REL:
            raise ELFError(f"{path}: a relocatable object (.o); check a linked executable or shared library")
        self.errors: list[str] = []
        self.code = _Code(elf)
        self.plt = _Plt(elf)
        try:
            self.symbols, self.full_symtab, self.labels = func_symbols(elf.reader)
            inner = elf.mini_debuginfo() if not self.full_symtab else None
            if inner is not None:
                # .dynsym and MiniDebugInfo's .symtab (the functions .dynsym lacks) together list them all.
                more, full, labels = func_symbols(inner)
                if full:
                    by_start = {s[0]: s for s in more}
                    by_start.update((s[0], s) for s in self.symbols)
                    self.symbols, self.full_symtab = sorted(by_start.values()), True
                    self.labels |= labels
        except ELFError as e:
            self.errors.append(str(e))
            self.symbols, self.full_symtab, self.labels = [], False, set()
        self._starts = [s[0] for s in self.symbols]
        self._names: dict[int, str] = {}
        self.sections = elf.cfi_sections()
        self.errors.extend(str(e) for e in elf.errors)
        self.fdes: list[FDE] = []
        for section in self.sections:
            errors: list = []
            self.fdes.extend(section.fdes(errors))
            self.errors.extend(str(e) for e in errors)

    def name_of(self, pc: int) -> tuple[str, int]:
        """(function, offset) from the FUNC symbols, else a PLT stub's name, else ("", 0)."""
        symbols = self.symbols
        i = bisect.bisect_right(self._starts, pc) - 1
        if i >= 0 and pc < symbols[i][0] + symbols[i][1]:
            start = symbols[i][0]
            name = self._names.get(start)
            if name is None:
                raw = symbols[i][2]
                name = self._names[start] = raw.split("@", 1)[0] or raw  # demangled once, at the end
            return name, pc - start
        return self.plt.at(pc) or ("", 0)

    def noreturn(self, target: int) -> bool:
        name = self.plt.names.get(target)
        if name is None:
            name, off = self.name_of(target)
            if off:
                return False
        return name in NORETURN

    def check_fde(self, fde: FDE, table: list | None = None) -> tuple[FunctionResult, bool] | None:
        """Check one FDE: (result, ends mid-instruction), or None when it covers no code.

        Raises :class:`~dwarfunwind.errors.DwarfUnwindError` when its CFI does not decode.
        """
        from .analyze import FunctionChecker

        if fde.pc_end <= fde.pc_begin:
            return None
        begin = fde.pc_begin
        if fde.signal_frame and begin not in self.labels and begin + 1 in self.labels:
            begin += 1  # glibc's __restore_rt: the FDE starts a byte early so that pc-1 lookups find it
        if self.code.at(begin, fde.pc_end - begin) is None:
            return None  # reported by coverage
        # A few bytes past the end, so that an instruction straddling it decodes whole.
        data = self.code.upto(begin, fde.pc_end - begin + 15)
        assert data is not None
        if table is None:
            table = row_table(fde)
        name, off = self.name_of(begin)
        checker = FunctionChecker(fde, table, data, name if not off else f"{name}+{off:#x}", self.name_of,
                                  self.noreturn, begin=begin, in_plt=self.code.in_plt)
        return checker.run(), checker.ends_mid_instruction


def check_file(path: str, *, function: str | None = None, address: int | None = None,
               progress: Callable[[int, int], None] | None = None) -> FileReport:
    """Check every FDE of ``path`` (or those matching ``function``/``address``) against its code.

    Raises :class:`~dwarfunwind.errors.ELFError` when the file cannot be read
    at all; problems with single entries are collected in ``report.errors``
    and the rest is still checked.
    """
    from .coverage import coverage_findings

    fc = FileChecker(path)
    report = FileReport(path)
    report.errors.extend(fc.errors)
    name_of = fc.name_of
    wanted = fc.fdes
    if address is not None:
        wanted = [f for f in wanted if f.pc_begin <= address < f.pc_end]
    if function is not None:
        names = _demangled({name_of(f.pc_begin)[0] for f in wanted} | {name_of(f.pc_begin + 1)[0] for f in wanted})

        def named(pc: int) -> tuple[str, int]:
            raw, off = name_of(pc)
            return names.get(raw, raw), off

        wanted = [f for f in wanted if _matches(name_of(f.pc_begin), function) or _matches(named(f.pc_begin), function)
                  or f.signal_frame and (_matches(name_of(f.pc_begin + 1), function)
                                         or _matches(named(f.pc_begin + 1), function))]
    total = len(wanted)
    for n, fde in enumerate(wanted):
        if progress is not None and n % 256 == 0:
            progress(n, total)
        try:
            done = fc.check_fde(fde)
        except DwarfUnwindError as e:
            report.errors.append(str(e))
            continue
        if done is None:
            continue
        result, mid = done
        if mid:
            nm, o = name_of(fde.pc_begin)
            report.coverage.append(Finding(COVERAGE, fde.pc_end, f"FDE at {fde.section}+{fde.offset:#x} "
                                           f"({fde.pc_begin:#x}..{fde.pc_end:#x}) ends in the middle of an "
                                           "instruction", function=nm, offset=fde.pc_end - fde.pc_begin + o))
        report.functions.append(result)
        report.instructions += result.instructions
    if progress is not None:
        progress(total, total)
    if function is None and address is None:
        report.coverage.extend(coverage_findings(fc.fdes, fc.symbols, fc.full_symtab, fc.labels, fc.code,
                                                 name_of, fc.sections, fc.code.in_plt))
    _demangle_report(report)
    return report


def _demangled(names: set[str]) -> dict[str, str]:
    """C++/Rust names demangled in one batch (c++filt in a bounded child, see symbolize/demangle.py)."""
    mangled = {n for n in names if n.startswith(("_Z", "_R"))}
    if not mangled:
        return {}
    from ..symbolize.demangle import demangle_all

    return demangle_all(mangled)


def _demangle_report(report: FileReport) -> None:
    """Show demangled names in findings and results: only those, so a C++ library costs one batch."""
    names = {f.function for f in report.findings()} | {f.name.split("+0x", 1)[0] for f in report.functions
                                                         if not f.clean or f.uncheckable is not None}
    table = _demangled(names)
    if not table:
        return
    for f in report.findings():
        f.function = table.get(f.function, f.function)
    for r in report.functions:
        base, sep, rest = r.name.partition("+0x")
        if base in table:
            r.name = table[base] + sep + rest


def _matches(hit: tuple[str, int], function: str) -> bool:
    name, off = hit
    return off == 0 and (name == function or name.split("(", 1)[0] == function)
