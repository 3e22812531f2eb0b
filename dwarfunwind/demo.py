"""The seed scenario, unwound from the prebuilt corpus shipped in ``dwarfunwind/data``.

faulting_func plants a distinct magic value in every general-purpose register
and traps into an entry stub (page_fault) that saves a ``struct pt_regs`` and
describes it with signal-frame CFI; the handler chain
do_page_fault -> some_other_func -> some_func then dies and leaves a core.
The demo unwinds each core with CFI and with frame pointers, and shows what
each method knows about faulting_func. See docs/seed-scenario.md.

Everything comes from package data: no compiler, gdb or network is needed.
The data is rebuilt from source by ``python3 corpora/build.py --demo-data``.
"""

from __future__ import annotations

import json
import lzma
import os
import tempfile
from dataclasses import dataclass
from importlib import resources

from .arch.x86_64 import FRAME_REGISTERS
from .program import Program
from .report import compare_lines
from .unwind.frame import Frame, StackTrace

#: The two builds of the entry stub, then the two trips through the real kernel path.
SCENARIOS = {
    "entry_nomarker": "entry stub, no frame-pointer marker",
    "entry_marker": "entry stub with CREATE_PT_REGS_FRAME (pt_regs+1 marker)",
    "sigsegv_glibc": "real SIGSEGV, glibc's __restore_rt",
    "sigsegv_restorer": "real SIGSEGV, our own SA_RESTORER trampoline",
}


@dataclass
class ScenarioResult:
    name: str
    description: str
    dwarf: StackTrace
    fp: StackTrace
    planted: dict[str, int]
    fault_pc: int


def _faulting(trace: StackTrace) -> Frame | None:
    return next((f for f in trace.frames if f.function == "faulting_func"), None)


def run_scenarios(data_dir: str | None = None) -> list[ScenarioResult]:
    """Unwind every shipped scenario with both methods."""
    root = resources.files("dwarfunwind") / "data" if data_dir is None else None
    manifest = json.loads((root / "demo.json").read_text() if root is not None
                          else open(os.path.join(data_dir, "demo.json")).read())  # type: ignore[arg-type]
    planted = {k: int(v) for k, v in manifest["magic"].items()}
    results = []
    with tempfile.TemporaryDirectory(prefix="dwarfunwind-demo-") as tmp:
        for name in SCENARIOS:
            paths = {}
            for kind in ("", ".core"):
                blob = (root / f"{name}{kind}.xz").read_bytes() if root is not None else \
                    open(os.path.join(data_dir, f"{name}{kind}.xz"), "rb").read()  # type: ignore[arg-type]
                path = os.path.join(tmp, name + kind)
                with open(path, "wb") as f:
                    f.write(lzma.decompress(blob))
                paths[kind] = path
            os.chmod(paths[""], 0o755)
            results.append(unwind_scenario(name, paths[".core"], paths[""], planted))
    return results


def unwind_scenario(name: str, core: str, exe: str, planted: dict[str, int]) -> ScenarioResult:
    """Unwind one scenario's core with both methods (also used on freshly built corpora)."""
    with Program.from_core(core, exe=exe) as program:
        dwarf = program.stack_trace(method="dwarf")
        fp = program.stack_trace(method="fp")
        fault_pc = _fault_pc(program, dwarf)
    return ScenarioResult(name, SCENARIOS.get(name, name), dwarf, fp, planted, fault_pc)


def _fault_pc(program: Program, trace: StackTrace) -> int:
    """The faulting instruction's address, as the program itself declares it.

    The corpus assembly exports ``faulting_insn_offset``, a constant holding the
    offset of the faulting instruction in faulting_func; read it from the target.
    """
    module = program.modules.find(trace.frames[0].pc)
    if module is None or module.elf is None:
        return -1
    symbols = {sym[2]: sym[0] for sym in module.elf.reader.symbols()}
    if "faulting_func" not in symbols or "faulting_insn_offset" not in symbols:
        return -1
    raw = program.target.read_memory(symbols["faulting_insn_offset"] + module.bias, 8)
    return symbols["faulting_func"] + module.bias + int.from_bytes(raw, "little")


def _cell(frame: Frame | None, reg: str, want: int) -> str:
    if frame is None:
        return "not reached"
    value = frame.registers_by_name()[reg]
    if value is None:
        return "unknown"
    return "= planted" if value == want else f"WRONG {value:#x}"


def report(results: list[ScenarioResult]) -> tuple[list[str], bool]:
    """The demo's text, and whether DWARF recovered every planted register and the exact pc everywhere."""
    lines = [
        "dwarfunwind demo: from an exception handler back to the faulting function",
        "",
        "faulting_func loads a distinct magic value into every general-purpose register and traps.",
        "The entry code saves them in a struct pt_regs and calls do_page_fault -> some_other_func ->",
        "some_func, which dies. Each core is unwound with DWARF CFI and with frame pointers.",
        "",
    ]
    for r in results:
        lines.append(f"== {r.name}: {r.description}")
        lines.extend(compare_lines(r.dwarf, r.fp)[1:])
        lines.append("")

    lines.append("== faulting_func's registers: what each walk recovered of the planted values")
    walks = [(r, method, getattr(r, method)) for r in results for method in ("dwarf", "fp")]
    # Four walks per table keeps lines under 120 columns.
    for chunk in (walks[:4], walks[4:]):
        if not chunk:
            continue
        lines.append(f"  {'reg':<4} {'planted':<18} " + " ".join(f"{r.name + ' ' + m:<24}" for r, m, _ in chunk))
        for reg in FRAME_REGISTERS:
            if reg == "rsp":
                continue  # not planted: the stack pointer has to stay the stack pointer
            first = chunk[0][0]
            want = first.fault_pc if reg == "rip" else first.planted[reg]
            cells = [f"{_cell(_faulting(t), reg, r.fault_pc if reg == 'rip' else r.planted[reg]):<24}"
                     for r, _, t in chunk]
            lines.append(f"  {reg:<4} {want:#018x} " + " ".join(cells))
        lines.append("")

    ok = True
    for r in results:
        f = _faulting(r.dwarf)
        recovered = (f is not None and f.interrupted and f.pc == r.fault_pc
                     and all(f.registers_by_name()[reg] == v for reg, v in r.planted.items()))
        ok = ok and recovered
        fp_f = _faulting(r.fp)
        fp_text = "faulting_func not reached" if fp_f is None else (
            f"{sum(fp_f.registers_by_name()[reg] == v for reg, v in r.planted.items())}/{len(r.planted)} planted GPRs")
        lines.append(f"  {r.name:<17} DWARF: "
                     f"{f'all {len(r.planted)} planted GPRs and the exact pc' if recovered else 'INCOMPLETE'}"
                     f"; frame pointers: {fp_text}")
    lines.append("")
    lines.append("DWARF needs no markers: the entry code's CFI says where every register was saved."
                 if ok else "DWARF did NOT recover every planted register: this is a bug.")
    return lines, ok
