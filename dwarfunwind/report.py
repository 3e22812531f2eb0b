"""Turning stack traces into the JSON contract and into text (no printing here)."""

from __future__ import annotations

from typing import Any

from .arch.x86_64 import FRAME_REGISTERS, register_name
from .cfi.rules import CFARule, Rule, format_cfa, format_rule
from .cfi.sections import FDE
from .unwind.frame import Frame, StackTrace

_RENDERED_RULES: dict[tuple[tuple[int, Rule], ...], str] = {}


def fde_json(fde: FDE, table: list[tuple[int, CFARule, dict[int, Rule]]]) -> str:
    """One FDE of the ``cfi --json`` schema as JSON text.

    Built as text rather than through dicts and json.dumps: a libc has 25,000
    rows, and this is the whole cost of the command beyond decoding. Cells hold
    only ``[a-z0-9+-]``, so they need no escaping. Rows that share a rules dict
    (only the CFA changed) share its rendered text.
    """
    rendered: dict[int, str] = {}
    parts = []
    for loc, cfa, rules in table:
        regs = rendered.get(id(rules))
        if regs is None:
            key = tuple(rules.items())
            regs = _RENDERED_RULES.get(key)
            if regs is None:
                regs = "{" + ",".join(f'"{register_name(n)}":"{format_rule(rule)}"' for n, rule in key) + "}"
                if len(_RENDERED_RULES) < 65536:  # bounded; the same few hundred sets recur across FDEs
                    _RENDERED_RULES[key] = regs
            rendered[id(rules)] = regs
        parts.append(f'{{"loc":{loc},"cfa":"{format_cfa(cfa)}","regs":{regs}}}')
    return (f'{{"offset":{fde.offset},"pc_begin":{fde.pc_begin},"pc_end":{fde.pc_end},'
            f'"signal_frame":{"true" if fde.signal_frame else "false"},"rows":[{",".join(parts)}]}}')


def fde_text(fde: FDE, table: list[tuple[int, CFARule, dict[int, Rule]]]) -> str:
    """One FDE as a row table in the style of ``readelf --debug-dump=frames-interp``."""
    # readelf puts the return-address column last.
    ra = fde.cie.return_address_register
    cols = sorted({n for _, _, regs in table for n in regs}, key=lambda n: (n == ra, n))
    lines = [f"{fde.offset:08x} FDE cie={fde.cie.offset:08x} pc={fde.pc_begin:016x}..{fde.pc_end:016x}"
             f"{' (signal frame)' if fde.signal_frame else ''}",
             "   LOC           CFA      " + " ".join(f"{register_name(c):<5}" for c in cols)]
    for loc, cfa, regs in table:
        cells = " ".join(f"{format_rule(regs[c]) if c in regs else 'u':<5}" for c in cols)
        lines.append(f"{loc:016x} {format_cfa(cfa):<8} {cells}".rstrip())
    return "\n".join(lines) + "\n\n"


def frame_to_dict(frame: Frame, *, source: bool = False, inline: bool = False) -> dict[str, Any]:
    """One frame in the ``unwind --json`` schema (with ``source`` and ``inlined`` when asked for)."""
    out: dict[str, Any] = {
        "index": frame.index,
        "pc": frame.pc,
        "cfa": frame.cfa,
        "function": frame.function,
        "linkage_name": frame.linkage_name,
        "offset": frame.offset,
        "module": frame.module.name if frame.module is not None else None,
        "method": frame.method,
        "signal_frame": frame.signal_frame,
        "interrupted": frame.interrupted,
        "registers": frame.registers_by_name(),
    }
    if source:
        where = frame.source()
        out["source"] = {"file": where[0], "line": where[1]} if where is not None else None
    if inline:
        out["inlined"] = [{"function": i.function, "linkage_name": i.linkage_name, "file": i.file,
                           "line": i.line or None} for i in frame.inlined or ()]
    return out


def trace_to_dict(trace: StackTrace, *, source: bool = False, inline: bool = False) -> dict[str, Any]:
    """One thread in the ``unwind --json`` schema."""
    return {
        "tid": trace.thread.tid,
        "crashed": trace.thread.crashed,
        "frames": [frame_to_dict(f, source=source, inline=inline) for f in trace.frames],
        "stop_reason": trace.stop_reason.value,
        "stop_detail": trace.stop_detail,
        "reliable": trace.reliable,
    }


def inline_lines(frame: Frame) -> list[str]:
    """The functions inlined at a frame's pc, innermost first, as gdb shows them: no address of their own."""
    module = f" ({frame.module.name})" if frame.module is not None else ""
    return [f"#{frame.index:<3} {'':18} in {i.function}{module}"
            f"{f' at {i.file}:{i.line}' if i.file else ''}  [inlined]" for i in frame.inlined or ()]


def frame_line(frame: Frame, *, source: bool = False) -> str:
    """``#3  0x00007f... in func+0x1c (libc.so.6) [signal frame]`` in the style of gdb's bt."""
    where = frame.symbol() or "??"
    module = f" ({frame.module.name})" if frame.module is not None else ""
    if source and (line := frame.source()) is not None:
        module += f" at {line[0]}:{line[1]}"
    marks = []
    if frame.signal_frame:
        marks.append("signal frame")
    if frame.interrupted:
        marks.append("interrupted")
    if frame.method == "fp":
        marks.append("frame pointer")
    tail = f"  [{', '.join(marks)}]" if marks else ""
    return f"#{frame.index:<3} {frame.pc:#018x} in {where}{module}{tail}"


def register_lines(frame: Frame, indent: str = "      ") -> list[str]:
    """Registers of a frame, four per line, ``<unknown>`` where not known."""
    regs = frame.registers_by_name()
    cells = [f"{name:>3} {value:#018x}" if value is not None else f"{name:>3} {'<unknown>':>18}"
             for name, value in regs.items()]
    return [indent + "  ".join(cells[i : i + 4]) for i in range(0, len(cells), 4)]


def trace_lines(trace: StackTrace, *, registers: bool = False, source: bool = False,
                inline: bool = False) -> list[str]:
    """A thread's frames and its stop reason, as text."""
    t = trace.thread
    head = f"Thread {t.tid}"
    if t.crashed:
        head += f" (crashed{f', signal {t.signal}' if t.signal else ''})"
    lines = [head + ":"]
    for f in trace.frames:
        if inline:
            lines.extend(inline_lines(f))
        lines.append(frame_line(f, source=source))
        if registers:
            lines.extend(register_lines(f))
    verdict = "reliable" if trace.reliable else "not reliable"
    detail = f" ({trace.stop_detail})" if trace.stop_detail else ""
    lines.append(f"  stop: {trace.stop_reason.describe()}{detail}; {verdict}")
    return lines


def compare_lines(dwarf_trace: StackTrace, fp_trace: StackTrace) -> list[str]:
    """The DWARF and frame-pointer walks of one thread side by side, with what each one misses."""
    def key(f: Frame) -> tuple[int, int | None]:
        return (f.pc, f.sp)

    def label(f: Frame | None) -> str:
        if f is None:
            return ""
        text = f"{f.pc:#x} {f.symbol() or '??'}"
        if f.interrupted:
            text += " [interrupted]"
        elif f.signal_frame:
            text += " [signal]"
        return text

    t = dwarf_trace.thread
    lines = [f"Thread {t.tid}{' (crashed)' if t.crashed else ''}:",
             f"  {'#':<3} {'DWARF':<52} {'frame pointers':<52}"]
    fp_by_key = {key(f): f for f in fp_trace.frames}
    dw_keys = {key(f) for f in dwarf_trace.frames}
    # Align rows: walk the DWARF frames, inserting frame-pointer frames that DWARF does not have.
    rows: list[tuple[Frame | None, Frame | None]] = []
    fp_iter = iter(fp_trace.frames)
    pending = next(fp_iter, None)
    for f in dwarf_trace.frames:
        match = fp_by_key.get(key(f))
        if match is not None:
            while pending is not None and pending is not match:
                if key(pending) not in dw_keys:
                    rows.append((None, pending))
                pending = next(fp_iter, None)
            rows.append((f, match))
            pending = next(fp_iter, None)
        else:
            rows.append((f, None))
    while pending is not None:
        if key(pending) not in dw_keys:
            rows.append((None, pending))
        pending = next(fp_iter, None)
    for i, (a, b) in enumerate(rows):
        lines.append(f"  {i:<3} {label(a):<52} {label(b):<52}")
    only_dw = [f for f in dwarf_trace.frames if key(f) not in fp_by_key]
    only_fp = [f for f in fp_trace.frames if key(f) not in dw_keys]
    lines.append(f"  frames only DWARF finds: {', '.join(f.symbol() or hex(f.pc) for f in only_dw) or 'none'}")
    lines.append(f"  frames only frame pointers find: {', '.join(f.symbol() or hex(f.pc) for f in only_fp) or 'none'}")
    for a, b in rows:
        if a is None or b is None:
            continue
        ra, rb = a.registers_by_name(), b.registers_by_name()
        only_a = [n for n in FRAME_REGISTERS if ra[n] is not None and rb[n] is None]
        only_b = [n for n in FRAME_REGISTERS if rb[n] is not None and ra[n] is None]
        differ = [n for n in FRAME_REGISTERS if ra[n] is not None and rb[n] is not None and ra[n] != rb[n]]
        if only_a or only_b or differ:
            parts = []
            if only_a:
                parts.append(f"only DWARF knows {' '.join(only_a)}")
            if only_b:
                parts.append(f"only frame pointers know {' '.join(only_b)}")
            if differ:
                parts.append(f"they disagree on {' '.join(differ)}")
            lines.append(f"  #{a.index} {a.symbol() or hex(a.pc)}: {'; '.join(parts)}")
    for name, tr in (("DWARF", dwarf_trace), ("frame pointers", fp_trace)):
        detail = f" ({tr.stop_detail})" if tr.stop_detail else ""
        lines.append(f"  {name}: {len(tr.frames)} frames, stop: {tr.stop_reason.describe()}{detail}; "
                     f"{'reliable' if tr.reliable else 'not reliable'}")
    return lines
