"""The CFI properties: plain check functions, and hypothesis tests built from them.

Each ``check_*`` function takes generated values and raises AssertionError
(or :class:`Skip`) -- usable from any test framework. :func:`hypothesis_test`
wraps one of them with ``@given`` and the given settings; pytest collects the
result as a test, and :mod:`dwarfunwind.testing.runner` calls it directly.
"""

from __future__ import annotations

import io
import os
import random
import resource
import tempfile
import time
from collections.abc import Callable
from copy import deepcopy
from functools import cache, lru_cache, partial
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from ..cfi.expr import disassemble, evaluate
from ..cfi.program import row_at, rows
from ..cfi.rules import CFARule, Row, Rule, RuleKind
from ..cfi.sections import CIE, FDE, CFISection
from ..elf.module import ElfFile
from ..elf.reader import ELFReader
from ..errors import DwarfUnwindError, MemoryReadError
from ..unwind.dwarf import step
from . import strategies as S
from .asm import assemble, gas_path, write_assembly
from .encoder import encode_file, encode_section
from .model import MASK64, SectionModel, model_rows, normalize_rows

#: The properties, in the order the runner runs them.
PROPERTY_NAMES: tuple[str, ...] = (
    "roundtrip", "unwind", "equivalent_encodings", "readelf", "gnu_as", "pyelftools", "robustness", "budget",
)

#: Encoder features that hit a known bug of *our* decoder; avoided until it is fixed (see docs/fuzzing.md).
#: None now: "set_loc_pcrel" and "corrupt_hdr" were fixed (tests/regressions/test_cfi_bugs.py).
KNOWN_DECODER_BUGS: frozenset[str] = frozenset()

#: Features pyelftools 0.33 decodes wrongly or refuses (docs/oracle-bugs.md).
PYELFTOOLS_BUGS: frozenset[str] = frozenset({"def_cfa_sf", "args_size", "negative_offset_extended",
                                             "set_loc", "set_loc_pcrel", "dwarf64",
                                             "dwarf64_eh",
                                             # GNU-accepted sequences pyelftools reads otherwise or refuses:
                                             "restore_state_empty", "offset_under_expression",
                                             "offset_after_expression"})
#: Features GNU readelf 2.40 cannot show (docs/oracle-bugs.md).
READELF_BUGS: frozenset[str] = frozenset({"leb128_pointer", "dwarf64_eh", "negative_offset_extended",
                                          # its remembered states outlive the FDE: a later FDE's
                                          # restore_state with nothing remembered pops them
                                          "remember_left"})


class Skip(Exception):
    """The property cannot run here (a tool is missing)."""


# -- helpers ---------------------------------------------------------------------------------------


def decoded_rows(fde: FDE, section_address: int) -> list[tuple]:
    """Our decoder's rows of ``fde``, normalized and relative to pc_begin."""
    return normalize_rows([(r.loc, r.cfa, r.regs) for r in rows(fde)], fde.pc_begin, fde.pc_end)


def _cie_fields(cie: CIE) -> tuple:
    return (cie.version, cie.augmentation, cie.code_alignment_factor, cie.data_alignment_factor,
            cie.return_address_register, cie.signal_frame)


def _check_section(model: SectionModel, sec: CFISection, where: str) -> None:
    fdes = list(sec.fdes())
    assert len(fdes) == len(model.fdes), f"{where}: {len(fdes)} FDEs decoded, {len(model.fdes)} written"
    for i, (fm, fd) in enumerate(zip(model.fdes, fdes)):
        cm = model.cies[fm.cie]
        want = (cm.version, cm.augmentation, cm.code_alignment_factor, cm.data_alignment_factor,
                cm.return_address_register, cm.signal_frame)
        assert _cie_fields(fd.cie) == want, f"{where}: FDE {i}: CIE {_cie_fields(fd.cie)} != {want}"
        if model.is_eh:
            assert fd.cie.fde_encoding == cm.fde_encoding
            assert fd.cie.personality == cm.personality, \
                f"{where}: personality {fd.cie.personality} != {cm.personality}"
            assert fd.lsda == fm.lsda, f"{where}: FDE {i}: lsda {fd.lsda} != {fm.lsda}"
        assert (fd.pc_begin, fd.pc_range) == (fm.pc_begin, fm.pc_range), \
            f"{where}: FDE {i}: range {fd.pc_begin:#x}+{fd.pc_range:#x} != {fm.pc_begin:#x}+{fm.pc_range:#x}"
        got, want_rows = decoded_rows(fd, model.address), model_rows(fm.rows)
        assert got == want_rows, f"{where}: FDE {i} rows differ:\n ours  {got}\n model {want_rows}"


# -- 1. roundtrip ----------------------------------------------------------------------------------


def check_roundtrip(model: SectionModel, rng: random.Random, avoid: frozenset[str] = KNOWN_DECODER_BUGS) -> None:
    """decode(encode(model)) == model: CIE fields, FDE ranges and rows; lookups via .eh_frame_hdr too."""
    f = encode_file(model, rng, avoid=avoid)
    _check_section(model, CFISection(model.name, f.section.data, model.address), "section")
    # The same through the ELF container, with .eh_frame_hdr when written.
    elf = ElfFile(ELFReader(f.elf, "generated.elf"), find_debug=False)
    secs = [s for s in elf.cfi_sections() if s.name == model.name]
    assert len(secs) == 1 and not elf.errors, f"ELF: {elf.errors}"
    _check_section(model, secs[0], "ELF")
    for fm in model.fdes:
        for pc in (fm.pc_begin, fm.pc_begin + fm.pc_range - 1):
            found = secs[0].fde_for(pc)
            assert found is not None and found.pc_begin == fm.pc_begin, f"fde_for({pc:#x}) -> {found}"
    assert secs[0].fde_for(model.text_address + model.text_size) is None


# -- 2. unwind ---------------------------------------------------------------------------------------


def dict_memory(memory: dict[int, int]) -> Callable[[int, int], bytes]:
    """A ``read_memory`` over a byte dict; unknown bytes raise MemoryReadError."""

    def read(address: int, size: int) -> bytes:
        try:
            return bytes(memory[(address + i) & MASK64] for i in range(size))
        except KeyError:
            raise MemoryReadError(address, size) from None

    return read


def check_unwind(case: tuple[SectionModel, int, int], rng: random.Random,
                 avoid: frozenset[str] = KNOWN_DECODER_BUGS) -> None:
    """One step through the generated CFI at the chosen pc gives back the caller's registers."""
    model, index, pc = case
    sec = CFISection(model.name, encode_section(model, rng, avoid).data, model.address)
    fde = list(sec.fdes())[index]
    frame = model.cases[index]
    state = frame.state_at(pc - fde.pc_begin)
    row = row_at(fde, pc)
    cfa, caller, outermost = step(row, dict(state.regs), dict_memory(state.memory))
    assert not outermost
    assert cfa == frame.caller[7] or frame.kind == "signal", f"CFA {cfa:#x} != caller rsp {frame.caller[7]:#x}"
    wrong = {r: (caller.get(r), v) for r, v in frame.expected.items() if caller.get(r) != v}
    assert not wrong, "registers recovered wrongly (got, want): " + ", ".join(
        f"r{r}: {g if g is None else hex(g)} != {w:#x}" for r, (g, w) in sorted(wrong.items()))


# -- 3. equivalent encodings -------------------------------------------------------------------------


def check_equivalent_encodings(model: SectionModel, rngs: list[random.Random],
                               avoid: frozenset[str] = KNOWN_DECODER_BUGS) -> None:
    """Every encoding of one model, in either section kind and either length format, gives the same rows."""
    results = []
    for i, rng in enumerate(rngs):
        variant = deepcopy(model)
        if model.name == ".eh_frame" and i % 2 == 1 and not any(c.signal_frame or "P" in c.augmentation
                                                               for c in model.cies):
            variant = _as_debug_frame(model)  # .debug_frame can hold the same rows
        variant.dwarf64 = rng.random() < 0.5
        data = encode_section(variant, rng, avoid).data
        sec = CFISection(variant.name, data, variant.address)
        results.append([decoded_rows(f, variant.address) for f in sec.fdes()])
    for other in results[1:]:
        assert other == results[0], f"encodings disagree:\n {results[0]}\n {other}"


def _as_debug_frame(model: SectionModel) -> SectionModel:
    m = deepcopy(model)
    m.name, m.address = ".debug_frame", 0
    for c in m.cies:
        c.augmentation, c.fde_encoding, c.lsda_encoding = "", 0x00, 0xFF
    for f in m.fdes:
        f.lsda = None
    return m


# -- 4. readelf on our encoder, and GNU as ------------------------------------------------------------


@lru_cache(maxsize=1)
def readelf_oracle() -> Any:
    """(dwarfunwind.testing.oracles, its readelf module) when readelf is on PATH, else None."""
    import shutil

    if shutil.which("readelf") is None:
        return None
    from . import oracles
    from .oracles import readelf

    return oracles, readelf


def _canon_ours(fde: FDE, section_address: int) -> Any:
    oracles, _ = readelf_oracle()
    kinds = {RuleKind.OFFSET: "c", RuleKind.VAL_OFFSET: "v"}
    out = []
    for r in rows(fde):
        regs = {}
        for reg, rule in r.regs.items():
            k = RuleKind(rule.kind)
            if k == RuleKind.UNDEFINED:
                continue
            if k in kinds:
                regs[reg] = (kinds[k], rule.arg)
            elif k == RuleKind.REGISTER:
                regs[reg] = ("reg", rule.arg)
            else:
                regs[reg] = ({RuleKind.SAME_VALUE: "s", RuleKind.EXPRESSION: "exp",  # type: ignore[assignment]
                              RuleKind.VAL_EXPRESSION: "vexp"}[k],)
        if r.cfa.expression is not None:
            cfa: tuple = ("exp",)
        elif not r.cfa.defined:
            cfa = oracles.UNDEF_CFA
        else:
            cfa = ("reg", r.cfa.register, r.cfa.offset)
        out.append(oracles.CanonRow(r.loc, cfa, regs))
    return oracles.CanonFDE(fde.offset, fde.pc_begin, fde.pc_end, fde.signal_frame, out)


def compare_with_readelf(path: str, sections: list[CFISection], relocatable: bool) -> list[str]:
    """Mismatches between our rows and readelf's for every FDE of ``sections`` (empty: agreement)."""
    oracles, readelf = readelf_oracle()
    dump = readelf.run(path)
    problems = []
    for sec in sections:
        theirs = dump.section(sec.name)
        ours = list(sec.fdes())
        if theirs is None:
            problems.append(f"readelf shows no {sec.name} (rc={dump.returncode}: {dump.stderr.strip()[:300]})")
            continue
        if len(theirs.fdes) != len(ours):
            problems.append(f"{sec.name}: readelf shows {len(theirs.fdes)} FDEs, we decode {len(ours)}")
            continue
        for mine, other in zip(ours, theirs.fdes):
            if other.unreliable:
                problems.append(f"{sec.name} FDE@{other.offset:#x}: readelf complains: {other.notes}")
                continue
            a, b = _canon_ours(mine, sec.address), readelf.canon_fde(other)
            if relocatable:
                a, b = oracles.rebase_fde(a), oracles.rebase_fde(b)
            _, mismatches = oracles.compare_fde(path, sec.name, a, b)
            problems += [str(m) for m in mismatches]
    return problems


def check_readelf(model: SectionModel, rng: random.Random, avoid: frozenset[str] = KNOWN_DECODER_BUGS) -> None:
    """GNU readelf accepts the ELF file our encoder writes and shows the model's rows."""
    if readelf_oracle() is None:
        raise Skip("readelf not found on PATH")
    f = encode_file(model, rng, avoid=avoid | READELF_BUGS)
    with tempfile.TemporaryDirectory(prefix="dwarfunwind-fuzz-") as d:
        path = os.path.join(d, "gen.elf")
        Path(path).write_bytes(f.elf)
        elf = ElfFile.open(path, find_debug=False)
        problems = compare_with_readelf(path, elf.cfi_sections(), relocatable=False)
    assert not problems, "readelf disagrees:\n  " + "\n  ".join(problems[:20]) + \
        f"\n etype {f.etype}, features {sorted(f.section.features)}, hdr {f.hdr is not None}" \
        f"\n {model.name} bytes {f.section.data.hex()}"


def check_gnu_as(model: SectionModel, rng: random.Random) -> None:
    """``as`` on generated .cfi directives: our rows == the model's == readelf's; expressions == llvm-dwarfdump's."""
    if gas_path() is None or readelf_oracle() is None:
        raise Skip("as or readelf not found on PATH")
    source = write_assembly(model, rng)
    with tempfile.TemporaryDirectory(prefix="dwarfunwind-fuzz-") as d:
        obj = str(assemble(source.text, Path(d)))
        elf = ElfFile.open(obj, find_debug=False)
        secs = [s for s in elf.cfi_sections() if s.name == model.name]
        assert len(secs) == 1, f"no {model.name} in the object"
        fdes = list(secs[0].fdes())
        assert len(fdes) == len(model.fdes)
        for i, (fm, fd) in enumerate(zip(model.fdes, fdes)):
            got, want = decoded_rows(fd, secs[0].address), model_rows(fm.rows)
            assert got == want, f"FDE {i}: ours != model\n ours  {got}\n model {want}\n{source.text}"
            assert fd.signal_frame == model.cies[fm.cie].signal_frame
        problems = compare_with_readelf(obj, secs, relocatable=True)
        assert not problems, "readelf disagrees:\n  " + "\n  ".join(problems[:20]) + "\n" + source.text
        if source.expressions:
            _check_llvm_expressions(obj, source.expressions)


def _check_llvm_expressions(obj: str, expressions: list[bytes]) -> None:
    from .oracles import llvm

    if llvm.llvm_dwarfdump_path() is None:
        return
    dump = llvm.run(obj)
    theirs = [i.expression for i in dump.expressions()]
    ours = [disassemble(e) for e in expressions]
    assert theirs == ours, f"llvm-dwarfdump disagrees on expressions:\n ours  {ours}\n llvm  {theirs}"


# -- 5. pyelftools -----------------------------------------------------------------------------------


_PYELFTOOLS_KIND = {"UNDEFINED": RuleKind.UNDEFINED, "SAME_VALUE": RuleKind.SAME_VALUE, "OFFSET": RuleKind.OFFSET,
                    "VAL_OFFSET": RuleKind.VAL_OFFSET, "REGISTER": RuleKind.REGISTER,
                    "EXPRESSION": RuleKind.EXPRESSION, "VAL_EXPRESSION": RuleKind.VAL_EXPRESSION}


def pyelftools_rows(elf_bytes: bytes, eh: bool) -> list[tuple[int, int, list[tuple]]]:
    """(pc_begin, pc_end, rows) of every FDE, as pyelftools decodes them (rows in our types)."""
    from elftools.dwarf.callframe import FDE as PFDE
    from elftools.elf.elffile import ELFFile

    elf = ELFFile(io.BytesIO(elf_bytes))
    info = elf.get_dwarf_info()
    entries = info.EH_CFI_entries() if eh else info.CFI_entries()
    out = []
    for e in entries:
        if not isinstance(e, PFDE):
            continue
        begin = e.header["initial_location"]
        table = e.get_decoded().table
        prow = []
        for line in table:
            c = line["cfa"]
            cfa = CFARule(-1, 0, bytes(c.expr)) if c.expr is not None else CFARule(c.reg, c.offset, None)
            regs = {}
            for k, v in line.items():
                if isinstance(k, int):
                    arg = v.arg if not isinstance(v.arg, list) else bytes(v.arg)
                    regs[k] = Rule(int(_PYELFTOOLS_KIND[v.type]), arg if arg is not None else 0)
            prow.append((line["pc"], cfa, regs))
        out.append((begin, begin + e.header["address_range"], normalize_rows(prow, begin,
                                                                             begin + e.header["address_range"])))
    return out


def check_pyelftools(model: SectionModel, rng: random.Random, avoid: frozenset[str] = KNOWN_DECODER_BUGS) -> None:
    """pyelftools' decoded tables agree with ours, except where it hits its known bugs (filtered out)."""
    f = encode_file(model, rng, avoid=avoid | PYELFTOOLS_BUGS)
    ours = CFISection(model.name, f.section.data, model.address)
    mine = [(fd.pc_begin, fd.pc_end, decoded_rows(fd, model.address)) for fd in ours.fdes()]
    try:
        theirs = pyelftools_rows(f.elf, model.is_eh)
    except Exception as e:  # noqa: BLE001 - report pyelftools' own failure with the input
        raise AssertionError(f"pyelftools failed: {type(e).__name__}: {e}; features {sorted(f.section.features)}"
                             f"\n bytes {f.section.data.hex()}") from e
    assert mine == theirs, f"pyelftools disagrees (features {sorted(f.section.features)}):\n ours {mine}\n " \
                           f"pyelftools {theirs}\n bytes {f.section.data.hex()}"


# -- 6. robustness -------------------------------------------------------------------------------------

#: Libraries whose .eh_frame seeds the mutation property (those present are used).
REAL_LIBRARIES: tuple[str, ...] = ("/lib/x86_64-linux-gnu/libc.so.6", "/usr/lib/x86_64-linux-gnu/libstdc++.so.6")


@cache
def real_eh_frame(path: str) -> tuple[bytes, int] | None:
    """(.eh_frame bytes, address) of a system library, or None."""
    try:
        r = ELFReader.open(path)
        s = r.section(".eh_frame")
        return (r.section_data(s), s.addr) if s is not None else None
    except (DwarfUnwindError, OSError):
        return None


def slice_eh_frame(data: bytes, start: int, count: int) -> bytes:
    """``count`` entries from entry ``start`` of a 32-bit .eh_frame, CIEs they need first, pointers re-linked."""
    offsets = S.entry_offsets(data)
    chosen = offsets[start % max(len(offsets), 1):][:count]
    out = bytearray()
    moved: dict[int, int] = {}
    for off in chosen:
        length = int.from_bytes(data[off:off + 4], "little")
        if length in (0, 0xFFFFFFFF) or off + 4 + length > len(data):
            continue
        ident = int.from_bytes(data[off + 4:off + 8], "little")
        entry = bytearray(data[off:off + 4 + length])
        if ident != 0:
            cie = off + 4 - ident
            if cie not in moved:
                clen = int.from_bytes(data[cie:cie + 4], "little") if 0 <= cie < len(data) else 0
                if not clen or cie + 4 + clen > len(data):
                    continue
                moved[cie] = len(out)
                out += data[cie:cie + 4 + clen]
            entry[4:8] = (len(out) + 4 - moved[cie]).to_bytes(4, "little")
        else:
            moved[off] = len(out)
        out += entry
    return bytes(out)


class _DictMachine:
    """Registers and memory for fuzzed expressions; unknown ones raise the package's errors."""

    def __init__(self, regs: dict[int, int], memory: Callable[[int, int], bytes]) -> None:
        self.regs, self.read_memory = regs, memory

    def read_register(self, regno: int) -> int:
        from ..errors import RegisterUnavailable

        if regno not in self.regs:
            raise RegisterUnavailable(regno)
        return self.regs[regno]


#: Per-example bounds of the robustness property.
ROBUSTNESS_SECONDS = 20.0
ROBUSTNESS_MAX_RSS_GROWTH = 512 * 1024  # KiB


def exercise(data: bytes, name: str, address: int, probe: random.Random, hdr: bytes | None = None,
             hdr_address: int = 0) -> int:
    """Decode everything in ``data`` the way a user would; return how many rows were produced.

    Only DwarfUnwindError may escape from the package's calls; the caller checks that.
    """
    sec = CFISection(name, data, address, hdr=hdr, hdr_address=hdr_address)
    regs = {r: probe.getrandbits(64) for r in range(17)}
    stack_base = probe.getrandbits(48) & ~0xF
    memory = {(stack_base + i) & MASK64: probe.getrandbits(8) for i in range(-256, 256)}
    read = dict_memory(memory)
    machine = _DictMachine(regs, read)
    count = 0
    regs[7] = stack_base
    for entry in sec.entries(errors=[]):
        if not isinstance(entry, FDE):
            continue
        pcs = [entry.pc_begin, entry.pc_end - 1, entry.pc_begin + probe.randrange(0, 1 << 16),
               probe.getrandbits(64)]
        calls: list[Callable[[], list[Row]]] = [partial(rows, entry)]
        calls += [partial(_one_row, entry, p) for p in pcs]
        for call in calls:
            try:
                result: list[Row] = call()
            except DwarfUnwindError:
                continue
            for row in result[:64]:
                count += 1
                exprs: list[tuple[bytes, list[int]]] = (
                    [(row.cfa.expression, [])] if row.cfa.expression is not None else [])
                exprs += [(r.arg, [stack_base]) for r in row.regs.values()
                          if isinstance(r.arg, bytes) and r.kind in (RuleKind.EXPRESSION, RuleKind.VAL_EXPRESSION)]
                for expr, initial in exprs:
                    for fn in (lambda x=expr, i=initial: evaluate(x, machine, i), lambda x=expr: disassemble(x)):
                        try:
                            fn()
                        except DwarfUnwindError:
                            pass
                try:
                    step(row, dict(regs), read)
                except DwarfUnwindError:
                    pass
    for _ in range(4):
        try:
            sec.fde_for(probe.getrandbits(probe.choice([16, 32, 64])))
        except DwarfUnwindError:
            pass
    return count


def check_robustness(data: bytes, name: str, address: int, edits: list[S.Mutation], seed: int,
                     hdr: bytes | None = None, hdr_address: int = 0) -> None:
    """Mutated CFI raises nothing but DwarfUnwindError, ends in bounded time and memory."""
    mutated = S.apply_mutations(data, edits)
    mutated_hdr = hdr
    if hdr and "corrupt_hdr" not in KNOWN_DECODER_BUGS:
        mutated_hdr = S.apply_mutations(hdr, edits[:1])
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    try:
        exercise(mutated, name, address, random.Random(seed), mutated_hdr, hdr_address)
    except DwarfUnwindError:
        pass
    except Exception as e:  # noqa: BLE001 - the property is that nothing else escapes
        raise AssertionError(f"{type(e).__name__}: {e} escaped for {name} bytes {mutated.hex()}") from e
    elapsed = time.perf_counter() - t0
    grew = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    assert elapsed < ROBUSTNESS_SECONDS, f"took {elapsed:.1f}s on {len(mutated)} bytes"
    assert grew < ROBUSTNESS_MAX_RSS_GROWTH, f"peak memory grew by {grew} KiB"


def _one_row(fde: FDE, pc: int) -> list[Row]:
    return [row_at(fde, pc)]


@st.composite
def robustness_inputs(draw: st.DrawFn) -> tuple[bytes, str, int, bytes | None, int]:
    """(data, section name, address, hdr, hdr address): a slice of a real .eh_frame or a generated section."""
    real = [p for p in REAL_LIBRARIES if real_eh_frame(p) is not None]
    if real and draw(st.booleans()):  # type: ignore[arg-type]
        data, addr = real_eh_frame(draw(st.sampled_from(real)))  # type: ignore[misc]
        return slice_eh_frame(data, draw(st.integers(0, 1 << 16)), draw(st.integers(1, 40))), ".eh_frame", addr, \
            None, 0
    model = draw(S.section_models(max_ops=6))
    f = encode_file(model, draw(S.encoder_choices()), with_hdr=model.is_eh)
    return f.section.data, model.name, model.address, f.hdr, f.hdr_address


# -- 7. budget -----------------------------------------------------------------------------------------

#: Small budgets for the property, so that each example meets them quickly (the defaults are far larger).
PROPERTY_BUDGET: dict[str, int] = {"expression_steps": 50_000, "cfi_work": 300_000, "rules_per_row": 256,
                                   "rows_per_fde": 1_000, "rules_per_fde": 20_000, "remember_depth": 256}


def check_budget(data: bytes, limits: dict[str, int] = PROPERTY_BUDGET) -> None:
    """Everything a user can ask of ``data`` (every row, every expression of every row) costs at most the
    budget plus one charge, ends quickly, and allocates memory bounded by the caps and the input size --
    whatever the input claims. Only DwarfUnwindError (BudgetExceeded among them) may escape."""
    import tracemalloc

    from ..cfi.budget import Budget
    from ..cfi.program import row_table
    from ..errors import BudgetExceeded

    budget = Budget("generated", **limits)
    sec = CFISection(".eh_frame", data, 0)
    machine = _DictMachine({r: 0x7FFC_0000_0000 for r in range(17)}, dict_memory({}))
    tracemalloc.start()
    t0 = time.perf_counter()
    try:
        for fde in sec.fdes(errors=[]):
            try:
                table = row_table(fde, budget)
            except BudgetExceeded:
                raise
            except DwarfUnwindError:
                continue
            for _, _, regs in table[:4]:
                for rule in regs.values():
                    if isinstance(rule.arg, bytes):
                        try:
                            evaluate(rule.arg, machine, [0x7FFC_0000_0000], budget)
                        except BudgetExceeded:
                            raise
                        except DwarfUnwindError:
                            pass
    except BudgetExceeded:
        pass
    except Exception as e:  # noqa: BLE001 - the property is that nothing else escapes
        raise AssertionError(f"{type(e).__name__}: {e} escaped") from e
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    elapsed = time.perf_counter() - t0
    from ..cfi.expr import MAX_STEPS

    # A charge is made, then checked: the total may pass the limit by the last charge only.
    assert budget.expression_steps <= limits["expression_steps"] + MAX_STEPS, budget
    assert budget.cfi_work <= limits["cfi_work"] + max(len(data), limits["rules_per_fde"]), budget
    bound = 8 * len(data) + 200 * limits["rules_per_fde"] + 200 * limits["rows_per_fde"] + (2 << 20)
    assert peak <= bound, f"peak {peak:,} bytes allocated for a {len(data):,}-byte input (bound {bound:,})"
    assert elapsed < ROBUSTNESS_SECONDS, f"took {elapsed:.1f} s"


# -- hypothesis wiring ---------------------------------------------------------------------------------


def _given(name: str) -> Callable[..., Any]:
    """The ``@given``-decorated function for property ``name`` (without settings)."""
    models, choices = S.section_models(), S.encoder_choices()
    # @given refuses functions with defaulted parameters: wrap each check.
    if name == "roundtrip":
        def roundtrip(model: SectionModel, rng: random.Random) -> None:
            check_roundtrip(model, rng)
        return given(models, choices)(roundtrip)
    if name == "unwind":
        def unwind(case: tuple[SectionModel, int, int], rng: random.Random) -> None:
            check_unwind(case, rng)
        return given(S.unwind_cases(), choices)(unwind)
    if name == "equivalent_encodings":
        def equivalent_encodings(model: SectionModel, rngs: list[random.Random]) -> None:
            check_equivalent_encodings(model, rngs)
        return given(models, st.lists(choices, min_size=2, max_size=4))(equivalent_encodings)
    if name == "readelf":
        def readelf(model: SectionModel, rng: random.Random) -> None:
            check_readelf(model, rng)
        return given(models, choices)(readelf)
    if name == "gnu_as":
        def gnu_as(model: SectionModel, rng: random.Random) -> None:
            check_gnu_as(model, rng)
        return given(models, choices)(gnu_as)
    if name == "pyelftools":
        def pyelftools(model: SectionModel, rng: random.Random) -> None:
            check_pyelftools(model, rng)
        return given(models, choices)(pyelftools)
    if name == "robustness":
        def robustness(inp: tuple, edits: list, seed: int) -> None:
            data, sec_name, address, hdr, hdr_address = inp
            check_robustness(data, sec_name, address, edits, seed, hdr, hdr_address)
        return given(robustness_inputs(), S.mutations(), st.integers(0, 1 << 32))(robustness)
    if name == "budget":
        def budget(data: bytes) -> None:
            check_budget(data)
        return given(S.expensive_eh_frames())(budget)
    raise KeyError(f"unknown property {name!r}; known: {', '.join(PROPERTY_NAMES)}")


def default_examples() -> int:
    """Examples per property: ``DWARFUNWIND_FUZZ_EXAMPLES`` or a small default for quick runs."""
    return int(os.environ.get("DWARFUNWIND_FUZZ_EXAMPLES", "40"))


def hypothesis_test(name: str, max_examples: int | None = None, **overrides: Any) -> Callable[[], None]:
    """Property ``name`` as a zero-argument hypothesis test (for pytest or a direct call).

    Default runs (no ``DWARFUNWIND_FUZZ_EXAMPLES``) are derandomized so CI is repeatable.
    """
    n = max_examples if max_examples is not None else default_examples()
    opts: dict[str, Any] = dict(max_examples=n, deadline=None,
                                derandomize="DWARFUNWIND_FUZZ_EXAMPLES" not in os.environ)
    opts.update(overrides)
    return settings(**opts)(_given(name))


__all__ = [
    "KNOWN_DECODER_BUGS", "PROPERTY_BUDGET", "PROPERTY_NAMES", "PYELFTOOLS_BUGS", "READELF_BUGS", "Skip",
    "check_budget", "check_equivalent_encodings",
    "check_gnu_as", "check_pyelftools", "check_readelf", "check_robustness", "check_roundtrip", "check_unwind",
    "decoded_rows", "dict_memory", "exercise", "hypothesis_test", "pyelftools_rows", "slice_eh_frame",
]
