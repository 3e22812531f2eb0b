"""One ELF file as an unwinder needs it: its CFI, its symbols, its debug file."""

from __future__ import annotations

import bisect
import os
import sys

from ..cfi.budget import Budget
from ..cfi.program import row_at, rows
from ..cfi.rules import Row
from ..cfi.sections import FDE, CFISection
from ..errors import CFIError, DwarfUnwindError, ELFError
from .reader import (
    _BINDING_RANK,
    _SYM,
    ET_REL,
    PT_LOAD,
    SHF_EXECINSTR,
    SHT_DYNSYM,
    SHT_RELA,
    SYMBOL_TYPES,
    ELFReader,
    apply_relocations,
    symbol_name,
    unxz,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator

    from ..symbolize.symcache import SourceLocation, SourceTable
    from .plt import PltNames

DEBUG_ROOT = "/usr/lib/debug"
#: Sections holding PLT stubs (dwarfunwind.elf.plt.PLT_SECTIONS, named here to keep that import off the cold path).
_PLT_SECTIONS = (".plt", ".plt.got", ".plt.sec", ".plt.bnd")
_SYM_SIZE = _SYM.size


class ElfFile:
    """An ELF file's Call Frame Information and symbols, decoded lazily.

    Addresses are the file's own (unrelocated). ``row_for`` decodes only the
    FDE that covers the address, found through .eh_frame_hdr when present.
    """

    def __init__(self, reader: ELFReader, *, debug_root: str | None = DEBUG_ROOT, find_debug: bool = True) -> None:
        self.reader = reader
        self.path = reader.name
        self._debug_root = debug_root
        self._find_debug = find_debug
        self._debug: ELFReader | None | bool = False  # False: not looked for yet
        self._fetched = False  # asked debuginfod already
        self._sections: list[CFISection] | None = None
        self._debug_sections_added = False
        self._symbols: SymbolTable | MergedSymbols | None = None
        self._mini: ELFReader | None | bool = False  # False: not looked for yet
        self._plt_ranges: list[tuple[int, int]] | None = None
        self._plt: "PltNames | None" = None
        self._lines: "SourceTable | None | bool" = None  # False: looked for, none
        #: Problems met while opening sections (the rest is still served).
        self.errors: list[DwarfUnwindError] = []

    @classmethod
    def open(cls, path: str | os.PathLike[str], **kwargs: object) -> "ElfFile":
        return cls(ELFReader.open(path), **kwargs)  # type: ignore[arg-type]

    # -- layout ---------------------------------------------------------------------------------

    @property
    def build_id(self) -> bytes | None:
        try:
            return self.reader.build_id()
        except ELFError:
            return None

    def debug_file(self, *, fetch: bool = False) -> ELFReader | None:
        """The separate debug file, by build-id then .gnu_debuglink, or None.

        With ``fetch``, and none found here, it is asked of the debuginfod servers
        (DEBUGINFOD_URLS or --debuginfod), once.
        """
        if self._debug is False:
            self._debug = None
            if self._find_debug and self._debug_root:
                for candidate in self._debug_candidates():
                    try:
                        r = ELFReader.open(candidate)
                        if r.sections:
                            self._debug = r
                            break
                    except ELFError:
                        continue
        if fetch and self._debug is None and not self._fetched and self._find_debug:
            self._fetched = True
            from ..symbolize import debuginfod

            bid = self.build_id
            path = debuginfod.fetch(bid, "debuginfo", os.path.basename(self.path)) \
                if bid and debuginfod.enabled() else None
            if path is not None:
                try:
                    self._debug = ELFReader.open(path)
                    self._debug_sections_added = False  # its .debug_frame may now serve
                    self._sections = None
                except ELFError as e:
                    self.errors.append(e)
        return self._debug  # type: ignore[return-value]

    def _debug_candidates(self) -> Iterator[str]:
        root = self._debug_root or DEBUG_ROOT
        bid = self.build_id
        if bid and len(bid) > 1:
            h = bid.hex()
            yield f"{root}/.build-id/{h[:2]}/{h[2:]}.debug"
        try:
            link = self.reader.debuglink()
        except ELFError:
            link = None
        if link:
            d = os.path.dirname(os.path.realpath(self.path))
            yield f"{d}/{link}"
            yield f"{d}/.debug/{link}"
            yield f"{root}{d}/{link}"

    # -- CFI --------------------------------------------------------------------------------------

    def cfi_sections(self, *, include_debug_file: bool = False) -> list[CFISection]:
        """.eh_frame (with .eh_frame_hdr) and .debug_frame of this file.

        With ``include_debug_file`` a .debug_frame found only in the separate
        debug file is added too (the unwinder wants it; ``cfi FILE`` does not).
        """
        if self._sections is None:
            self._sections = self._open_sections(self.reader)
        if include_debug_file and not self._debug_sections_added:
            self._debug_sections_added = True  # looked for once, found or not
            debug = self.debug_file() if not any(s.name == ".debug_frame" for s in self._sections) else None
            if debug is not None:
                self._sections = self._sections + [
                    s for s in self._open_sections(debug) if s.name == ".debug_frame"
                ]
        return self._sections

    def _open_sections(self, reader: ELFReader) -> list[CFISection]:
        out = []
        try:
            secs = reader.sections
        except ELFError as e:
            self.errors.append(e)
            return []
        text = next((s.addr for s in secs if s.name == ".text"), None)
        got = next((s.addr for s in secs if s.name == ".got"), None)
        for name in (".eh_frame", ".debug_frame", ".zdebug_frame"):
            sec = next((s for s in secs if s.name == name), None)
            if sec is None or sec.type == 8:  # SHT_NOBITS in a debug file
                continue
            try:
                data = reader.section_data(sec)
                if reader.type == ET_REL:
                    data = apply_relocations(reader, sec, data)
                hdr = hdr_addr = None
                if name == ".eh_frame":
                    h = next((s for s in secs if s.name == ".eh_frame_hdr"), None)
                    if h is not None and h.type != 8:
                        hdr, hdr_addr = reader.section_data(h), h.addr
                out.append(CFISection(".debug_frame" if name == ".zdebug_frame" else name, data, sec.addr,
                                      text_base=text, data_base=got, hdr=hdr, hdr_address=hdr_addr or 0))
            except ELFError as e:
                self.errors.append(e)
        return out

    def fde_for(self, address: int) -> FDE | None:
        """The FDE covering ``address``: .eh_frame first, then .debug_frame (also from a debug file)."""
        for attempt in range(2):
            for section in self.cfi_sections(include_debug_file=True):
                try:
                    fde = section.fde_for(address)
                except CFIError as e:
                    self.errors.append(e)
                    continue
                if fde is not None:
                    return fde
            # No CFI here: a debug file from debuginfod may have a .debug_frame (asked once).
            if attempt or self._fetched or self._debug is not None or self.debug_file(fetch=True) is None:
                break
        return None

    def row_for(self, address: int, budget: Budget | None = None) -> Row | None:
        """The unwind row that governs ``address`` (an unrelocated address of this file), or None.

        The decoding is charged to ``budget`` (None: only the per-row and per-FDE caps apply).
        """
        fde = self.fde_for(address)
        if fde is None:
            return None
        return row_at(fde, address, budget)

    def rows(self, fde: FDE) -> list[Row]:
        """Every row of ``fde``."""
        return rows(fde)

    # -- source lines ------------------------------------------------------------------------------

    def source_chain(self, address: int) -> list[SourceLocation]:
        """The inline chain at an unrelocated address, innermost inlined function first, the containing
        function last, each with its file and line; from this file's or its debug file's DWARF."""
        if self._lines is None:
            self._lines = False
            for reader in (self.reader, self.debug_file(fetch=self.reader.section(".debug_line") is None)):
                if reader is not None and reader.section(".debug_line") is not None and \
                        reader.section(".debug_info") is not None and reader.name != "[vdso]":
                    from ..symbolize.symcache import SourceTable

                    self._lines = SourceTable(reader.name, self.build_id, _image_base(reader))
                    break
        if self._lines is False:
            return []
        try:
            return self._lines.lookup(address)  # type: ignore[union-attr]
        except DwarfUnwindError as e:
            self.errors.append(e)
            self._lines = False
            return []

    def source(self, address: int) -> tuple[str, int] | None:
        """(file, line) in the function containing an unrelocated address (the outermost inlined call's line)."""
        chain = self.source_chain(address)
        if not chain or chain[-1].file is None:
            return None
        return chain[-1].file, chain[-1].line

    # -- files -------------------------------------------------------------------------------------

    def close(self) -> None:
        """Release the file descriptors this file holds (its mapping, its debug file's, its line tables').

        Decoded CFI sections and symbols are kept; anything that still needs
        the file afterwards must open it again (see modules.Module).
        """
        for reader in (self.reader, self._debug if isinstance(self._debug, ELFReader) else None):
            data = getattr(reader, "data", None)
            if data is not None and hasattr(data, "closed") and hasattr(data, "close"):
                try:
                    data.close()
                except BufferError:
                    pass  # a view of it is still alive; the mapping goes when that view does
        if self._lines not in (None, False):
            self._lines.close()  # type: ignore[union-attr]

    # -- symbols ----------------------------------------------------------------------------------

    def symbolize(self, address: int) -> tuple[str, int] | None:
        """(function, offset) for an unrelocated address, from .symtab/.dynsym or the debug file.

        A PLT stub is named as BFD (objdump, gdb, perf) names it, ``puts@plt`` (see dwarfunwind.elf.plt).
        """
        if self._plt_ranges is None:
            try:
                self._plt_ranges = [(s.addr, s.addr + s.size) for s in self.reader.sections
                                    if s.name in _PLT_SECTIONS and s.type != 8]  # not SHT_NOBITS
            except ELFError:
                self._plt_ranges = []
        for lo, hi in self._plt_ranges:
            if lo <= address < hi:
                hit = self._plt_symbol(address)
                if hit is not None:
                    return hit
                break
        if self._symbols is None:
            self._symbols = self._load_symbols()
        return self._symbols.lookup(address)

    def plt_symbols(self) -> list[tuple[int, int, str]]:
        """(file address, size, ``name@plt``) of each PLT entry BFD names (objdump's ``<puts@plt>``)."""
        return list(self._plt_names().entries())

    def _plt_symbol(self, address: int) -> tuple[str, int] | None:
        return self._plt_names().lookup(address)

    def _plt_names(self) -> "PltNames":
        if self._plt is None:
            from .plt import PltNames

            reader = self.reader
            try:
                secs = reader.sections
                dynsym = next((i for i, s in enumerate(secs) if s.type == SHT_DYNSYM), None)
                if dynsym is None or secs[dynsym].link >= len(secs):
                    self._plt = PltNames([], [], b"", b"")
                else:
                    self._plt = PltNames(
                        [(s.name, s.addr, reader.section_data(s)) for s in secs
                         if s.name in _PLT_SECTIONS and s.type != 8],
                        [reader.section_data(s) for s in secs if s.type == SHT_RELA and s.link == dynsym],
                        reader.section_data(secs[dynsym]), reader.section_data(secs[secs[dynsym].link]))
            except ELFError as e:
                self.errors.append(e)
                self._plt = PltNames([], [], b"", b"")
        return self._plt

    def _load_symbols(self) -> "SymbolTable | MergedSymbols":
        mini = None
        try:
            reader = self.reader
            table = None
            if reader.section(".symtab") is None:
                debug = self.debug_file(fetch=True)
                table = debug.symbol_table() if debug is not None else None
                if table is not None:
                    reader = debug  # type: ignore[assignment]
                else:
                    mini = self._mini_symbols()
            own = _symbols_of(reader, table)
        except ELFError as e:
            self.errors.append(e)
            own = None
        if own is None:
            own = SymbolTable(b"", b"")
        return own if mini is None else MergedSymbols([own, mini])

    def mini_debuginfo(self) -> ELFReader | None:
        """MiniDebugInfo, or None: ``.gnu_debugdata`` is an xz-compressed ELF whose .symtab has the
        functions .dynsym lacks (static ones), as Fedora and RHEL ship their binaries; gdb, eu-stack
        and perf read it. A damaged one is said once (``errors``) and None."""
        if self._mini is False:
            self._mini = None
            section = self.reader.section(".gnu_debugdata")
            if section is not None:
                where = f"{self.path}: section .gnu_debugdata"
                try:
                    inner = ELFReader(unxz(self.reader.section_data(section), where), where)
                    self._mini = inner if inner.section(".symtab") is not None else None
                except ELFError as e:
                    self.errors.append(e)
        return self._mini  # type: ignore[return-value]

    def _mini_symbols(self) -> "SymbolTable | None":
        """MiniDebugInfo's symbols (see :meth:`mini_debuginfo`), or None."""
        inner = self.mini_debuginfo()
        if inner is None:
            return None
        try:
            return _symbols_of(inner)
        except ELFError as e:
            self.errors.append(e)
            return None


def _symbols_of(reader: ELFReader, table: tuple[bytes, bytes] | None = None) -> "SymbolTable | None":
    """The symbol table of ``reader`` (``table``: its raw entries and strings, if already read), or None."""
    table = table or reader.symbol_table()
    if table is None:
        return None
    # Labels (STT_NOTYPE) in code name it too, as in gdb and perf: ld.so's _start is one.
    return SymbolTable(*table, code_sections={i for i, s in enumerate(reader.sections) if s.flags & SHF_EXECINSTR})


def _image_base(reader: ELFReader) -> int:
    """The first PT_LOAD's address: SymCache addresses are relative to it (0 for PIE and libraries)."""
    try:
        return next((s.vaddr for s in reader.segments if s.type == PT_LOAD), 0)
    except ELFError:
        return 0


class MergedSymbols:
    """Several symbol tables as one (a file's .dynsym and its MiniDebugInfo .symtab): of their answers
    for an address, the symbol that starts nearest below it; the first table's on a tie."""

    def __init__(self, tables: list[SymbolTable]) -> None:
        self.tables = tables

    def lookup(self, address: int) -> tuple[str, int] | None:
        best = None
        for table in self.tables:
            hit = table.lookup(address)
            if hit is not None and (best is None or hit[1] < best[1]):  # hit[1]: address - symbol start
                best = hit
        return best


class SymbolTable:
    """Function and object symbols, and labels in code, looked up by address straight from the raw symbol table.

    Only the addresses are read up front (sorted, with each entry's index); an entry's other
    fields and its name are read when a lookup lands on it. A libc's 10,000 symbols cost
    about 2 ms this way, against 15 ms to build every entry, for the handful a backtrace needs.

    A symbol names code if it is a function, an object or, as gdb and perf have it, a label
    (STT_NOTYPE) in one of ``code_sections`` (section indices; ld.so's ``_start`` is such a label).
    Several symbols often share an address (aliases, versioned names): one is kept,
    preferring a sized symbol, then a typed one over a label, then global over weak over local,
    then the default version (name@@V). It is given without its version, not demangled (see
    dwarfunwind.symbolize.demangle).

    A lookup follows gdb (lookup_minimal_symbol_by_pc_section): down from the address, the first
    sized symbol is taken if it covers the address; failing that, the nearest unsized one below
    it (a label inside a function does not rename the function's pcs; a sized symbol that ends
    below the address, with no unsized one above it, names nothing). The search passes at most
    :data:`MAX_UNSIZED` unsized symbols before settling for the nearest.
    """

    #: Unsized symbols a lookup passes looking for a sized one that covers the address.
    MAX_UNSIZED = 256

    def __init__(self, raw: bytes, strtab: bytes, *, code_sections: set[int] | frozenset[int] = frozenset()) -> None:
        self._strtab = strtab
        self._raw = raw
        self._code = code_sections
        count = len(raw) // _SYM_SIZE
        if sys.byteorder == "little":
            values = memoryview(raw)[: count * _SYM_SIZE].cast("Q")[1::3].tolist()  # st_value of each entry
        else:
            values = [e[4] for e in _SYM.iter_unpack(raw[: count * _SYM_SIZE])]
        # Stable: entries at one address stay in table order, the order the preference breaks ties in.
        self._order = sorted(range(count), key=values.__getitem__)
        self._starts = [values[i] for i in self._order]
        #: address -> the preferred symbol there (value, size, rank, name offset), or None if none qualifies.
        #: ``rank`` is the binding's rank (2 global, 1 weak, 0 local), plus 4 for a typed symbol.
        self._best: dict[int, tuple[int, int, int, int] | None] = {}

    def _at(self, hi: int) -> tuple[int, int, int, int] | None:
        """The preferred qualifying entry at the address ``self._starts[hi]`` (the entries up to ``hi``)."""
        value = self._starts[hi]
        lo = bisect.bisect_left(self._starts, value, 0, hi)
        best = None
        raw = self._raw
        for k in range(lo, hi + 1):
            name_off, info, _, shndx, _, size = _SYM.unpack_from(raw, self._order[k] * _SYM_SIZE)
            if not (shndx and name_off):
                continue
            kind = info & 0xF
            if kind in SYMBOL_TYPES:
                rank = 4 + _BINDING_RANK.get(info >> 4, 0)
            elif kind == 0 and shndx in self._code:  # STT_NOTYPE: a label in code
                rank = _BINDING_RANK.get(info >> 4, 0)
            else:
                continue
            entry = (value, size, rank, name_off)
            if best is None or self._better(entry, best):
                best = entry
        return best

    def _better(self, a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> bool:
        ka, kb = (a[1] > 0, a[2]), (b[1] > 0, b[2])
        if ka != kb:
            return ka > kb
        # Only ties need the names: prefer name@@DEFAULT, then a name without a version.
        na, nb = symbol_name(self._strtab, a[3]), symbol_name(self._strtab, b[3])
        return ("@@" in na, "@" not in na) > ("@@" in nb, "@" not in nb)

    def lookup(self, address: int) -> tuple[str, int] | None:
        starts = self._starts
        i = bisect.bisect_right(starts, address) - 1
        # Down through the addresses at or below ``address``: each step passes one address's
        # entries, so at most one pass over the table.
        found = nearest_unsized = None
        unsized = 0
        while i >= 0:
            value = starts[i]
            if value in self._best:
                best = self._best[value]
            else:
                best = self._best[value] = self._at(i)
            if best is not None:
                if best[1]:
                    if address < best[0] + best[1]:
                        found = best
                    break
                if nearest_unsized is None:
                    nearest_unsized = best
                unsized += 1
                if unsized > self.MAX_UNSIZED:
                    break
            i = bisect.bisect_left(starts, value, 0, i) - 1
        found = found or nearest_unsized
        if found is None:
            return None
        value, _, _, name_off = found
        name = symbol_name(self._strtab, name_off)
        return name.split("@", 1)[0] or name, address - value
