"""Source file and line for an address, from DWARF line tables (``--source``).

pyelftools parses .debug_line: a well-kept library beats our own parser here,
and this path is taken only on request, so its import cost (about 50 ms)
stays off the default paths. The compilation unit of an address is found
through .debug_aranges when present; each unit's rows are decoded once.
"""

from __future__ import annotations

import bisect
import os

from ..errors import DwarfUnwindError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

#: Bound on the units scanned when a file has no .debug_aranges.
MAX_UNITS_SCANNED = 10_000


class LineTable:
    """Address -> (file, line) for one ELF file carrying DWARF debug info."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._dwarf: Any = None
        self._file: Any = None
        self._aranges: Any = None
        self._units: dict[int, tuple[list[int], list[tuple[str, int] | None]]] = {}
        self._all_loaded = False

    def _open(self) -> Any:
        if self._dwarf is None:
            from elftools.common.exceptions import ELFError as PyELFError
            from elftools.elf.elffile import ELFFile

            try:
                self._file = open(self.path, "rb")
                elf = ELFFile(self._file)
                if not elf.has_dwarf_info():
                    raise DwarfUnwindError(f"{self.path}: no DWARF debug info")
                self._dwarf = elf.get_dwarf_info()
                self._aranges = self._dwarf.get_aranges()
            except (OSError, PyELFError) as e:
                raise DwarfUnwindError(f"{self.path}: cannot read debug info ({e})") from None
        return self._dwarf

    def lookup(self, address: int) -> tuple[str, int] | None:
        """(file, line) of the row covering ``address``, or None."""
        try:
            dwarf = self._open()
            offset = self._aranges.cu_offset_at_addr(address) if self._aranges is not None else None
            if offset is not None:
                hit = self._lookup_unit(dwarf.get_CU_at(offset), address)
                if hit is not None:
                    return hit
            if not self._all_loaded:
                self._all_loaded = True
                for i, cu in enumerate(dwarf.iter_CUs()):
                    if i >= MAX_UNITS_SCANNED:
                        break
                    self._rows(cu)
            for unit in self._units.values():
                hit = _find(unit, address)
                if hit is not None:
                    return hit
        except DwarfUnwindError:
            raise
        except Exception as e:  # pyelftools raises assorted types on corrupt DWARF
            raise DwarfUnwindError(f"{self.path}: cannot decode line table ({type(e).__name__}: {e})") from None
        return None

    def _lookup_unit(self, cu: Any, address: int) -> tuple[str, int] | None:
        return _find(self._rows(cu), address)

    def _rows(self, cu: Any) -> tuple[list[int], list[tuple[str, int] | None]]:
        unit = self._units.get(cu.cu_offset)
        if unit is not None:
            return unit
        program = self._dwarf.line_program_for_CU(cu)
        rows: list[tuple[int, tuple[str, int] | None]] = []
        if program is not None:
            header = program.header
            version = header["version"]
            files = header["file_entry"]
            dirs = header.get("include_directory") or []
            comp_dir = cu.get_top_DIE().attributes.get("DW_AT_comp_dir")
            base = comp_dir.value.decode("utf-8", "replace") if comp_dir is not None else ""
            names: dict[int, str] = {}
            for entry in program.get_entries():
                state = entry.state
                if state is None:
                    continue
                if state.end_sequence:
                    rows.append((state.address, None))  # a gap until the next sequence
                    continue
                name = names.get(state.file)
                if name is None:
                    name = names[state.file] = _file_name(files, dirs, state.file, version, base)
                rows.append((state.address, (name, state.line)))
        rows.sort(key=lambda r: r[0])
        unit = ([r[0] for r in rows], [r[1] for r in rows])
        self._units[cu.cu_offset] = unit
        return unit

    def close(self) -> None:
        if self._file is not None:
            self._file.close()


def _find(unit: tuple[list[int], list[tuple[str, int] | None]], address: int) -> tuple[str, int] | None:
    addrs, values = unit
    i = bisect.bisect_right(addrs, address) - 1
    return values[i] if i >= 0 else None


def _file_name(files: Any, dirs: Any, index: int, version: int, base: str) -> str:
    # DWARF 5 numbers files and directories from 0; earlier versions from 1 (0 = the unit's own dir).
    i = index if version >= 5 else index - 1
    if not 0 <= i < len(files):
        return f"<file {index}>"
    entry = files[i]
    name = entry.name.decode("utf-8", "replace")
    d = entry.dir_index if version >= 5 else entry.dir_index - 1
    if version >= 5 and d == 0 or version < 5 and entry.dir_index == 0:
        directory = base  # the unit's own directory (DWARF 5 repeats it as directory 0)
    elif 0 <= d < len(dirs):
        directory = dirs[d].decode("utf-8", "replace")
        if not os.path.isabs(directory):
            directory = os.path.join(base, directory)  # other directories are relative to it
    else:
        directory = base
    if directory and not os.path.isabs(name):
        name = os.path.join(directory, name)
    return os.path.normpath(name)
