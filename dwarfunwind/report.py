"""Turning stack traces into the JSON contract and into text (no printing here)."""

from __future__ import annotations

from .arch.x86_64 import FRAME_REGISTERS, column_name
from .cfi.rules import _FORMATTED_CFA, format_cfa, format_rule

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: the cfi path must not import the unwinder (nor typing)
    from collections.abc import Iterator
    from typing import Any

    from .cfi.rules import CFARule, Rule
    from .cfi.sections import FDE
    from .modules import Module
    from .unwind.frame import Frame, StackTrace

_RENDERED_RULES: dict[tuple[int, tuple[tuple[int, Rule], ...]], str] = {}


#: return-address column -> {id(rules dict): its rendered text}, for the interpreter's shared
#: (canonical) rule sets. The dicts are kept alive in _RENDERED_KEEP, so an id here can never be
#: another object's.
_RENDERED_BY_ID: dict[int, dict[int, str]] = {}
_RENDERED_KEEP: list[dict[int, Rule]] = []


def _render_rules(rules: dict[int, Rule], ra: int) -> str:
    key = (ra, tuple(rules.items()))
    regs = _RENDERED_RULES.get(key)
    if regs is None:
        regs = "{" + ",".join(f'"{column_name(n, ra)}":"{format_rule(rule)}"' for n, rule in key[1]) + "}"
        if len(_RENDERED_RULES) < 65536:  # bounded; the same few hundred sets recur across FDEs
            _RENDERED_RULES[key] = regs
    return regs


def fde_json(fde: FDE, table: list[tuple[int, CFARule, dict[int, Rule]]]) -> str:
    """One FDE of the ``cfi --json`` schema as JSON text.

    Built as text rather than through dicts and json.dumps: a libc has 25,000
    rows, and this is the whole cost of the command beyond decoding. Cells hold
    only ``[a-z0-9+-]``, so they need no escaping. Rows that share a rules dict
    share its rendered text.
    """
    ra = fde.cie.return_address_register
    by_id = _RENDERED_BY_ID.get(ra)
    if by_id is None:
        by_id = _RENDERED_BY_ID[ra] = {}
    cfa_text = _FORMATTED_CFA  # format_cfa's memo, read directly: one call less per row
    parts: list[str] = []
    append = parts.append
    last_rules = None
    regs = ""
    for loc, cfa, rules in table:
        # Most rows (six in ten in a libc) keep the previous row's rules dict: its text is at hand.
        if rules is not last_rules:
            last_rules = rules
            rendered = by_id.get(id(rules))
            if rendered is None:
                rendered = _render_rules(rules, ra)
                if len(_RENDERED_KEEP) < 65536:
                    _RENDERED_KEEP.append(rules)
                    by_id[id(rules)] = rendered
            regs = rendered
        text = cfa_text.get(cfa)
        if text is None:
            text = format_cfa(cfa)
        append(f'{{"loc":{loc},"cfa":"{text}","regs":{regs}}}')
    return (f'{{"offset":{fde.offset},"pc_begin":{fde.pc_begin},"pc_end":{fde.pc_begin + fde.pc_range},'
            f'"signal_frame":{"true" if fde.cie.signal_frame else "false"},"return_address_register":{ra},'
            f'"rows":[{",".join(parts)}]}}')


def fde_text(fde: FDE, table: list[tuple[int, CFARule, dict[int, Rule]]]) -> str:
    """One FDE as a row table in the style of ``readelf --debug-dump=frames-interp``."""
    # Columns in number order, the return-address column named "ra", as readelf shows them.
    ra = fde.cie.return_address_register
    cols = sorted({n for _, _, regs in table for n in regs})
    lines = [f"{fde.offset:08x} FDE cie={fde.cie.offset:08x} pc={fde.pc_begin:016x}..{fde.pc_end:016x}"
             f"{' (signal frame)' if fde.signal_frame else ''}",
             "   LOC           CFA      " + " ".join(f"{column_name(c, ra):<5}" for c in cols)]
    for loc, cfa, regs in table:
        cells = " ".join(f"{format_rule(regs[c]) if c in regs else 'u':<5}" for c in cols)
        lines.append(f"{loc:016x} {format_cfa(cfa):<8} {cells}".rstrip())
    return "\n".join(lines) + "\n\n"


def module_offset(frame: Frame) -> int | None:
    """The frame's pc as an address of its module's file (pc - load bias): what addr2line and
    ``cfi --address`` take. None outside every known module."""
    return frame.pc - frame.module.bias if frame.module is not None else None


def module_path(module: Module) -> str:
    """The file a module's CFI and symbols come from (after --exe, --sysroot, build-id links), else the
    path the target recorded (a module not found)."""
    return module.file_path or module.path  # file_path: also after the program (and its files) closed


def module_build_id(module: Module) -> str | None:
    """The GNU build-id in hex of the file ``module_path`` names, or, with no file found, the one the
    target recorded; None when neither is known."""
    build_id = module.build_id
    return build_id.hex() if build_id else None


def frame_to_dict(frame: Frame, *, source: bool = False, inline: bool = False,
                  _files: dict[int, tuple[str | None, str | None]] | None = None) -> dict[str, Any]:
    """One frame in the ``unwind --json`` schema (with ``source`` and ``inlined`` when asked for)."""
    module = frame.module
    file: tuple[str | None, str | None] | None = (None, None)
    if module is not None:
        # Each module's path and build-id once per trace (the build-id is read from its notes).
        file = _files.get(id(module)) if _files is not None else None
        if file is None:
            file = (module_path(module), module_build_id(module))
            if _files is not None:
                _files[id(module)] = file
    assert file is not None
    out: dict[str, Any] = {
        "index": frame.index,
        "pc": frame.pc,
        "cfa": frame.cfa,
        "function": frame.function,
        "linkage_name": frame.linkage_name,
        "offset": frame.offset,
        "module": module.name if module is not None else None,
        "method": frame.method,
        "signal_frame": frame.signal_frame,
        "interrupted": frame.interrupted,
        "registers": frame.registers_by_name(),
        "module_path": file[0],
        "build_id": file[1],
        "module_offset": module_offset(frame),
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
    files: dict[int, tuple[str | None, str | None]] = {}
    return {
        "tid": trace.thread.tid,
        "crashed": trace.thread.crashed,
        "frames": [frame_to_dict(f, source=source, inline=inline, _files=files) for f in trace.frames],
        "stop_reason": trace.stop_reason.value,
        "stop_detail": trace.stop_detail,
        "reliable": trace.reliable,
        "signal": trace.thread.signal,
        "name": trace.thread.name,
    }


#: Linux signal numbers (the same on every architecture but alpha, mips, parisc and sparc).
SIGNAL_NAMES = ("", "SIGHUP", "SIGINT", "SIGQUIT", "SIGILL", "SIGTRAP", "SIGABRT", "SIGBUS", "SIGFPE", "SIGKILL",
                "SIGUSR1", "SIGSEGV", "SIGUSR2", "SIGPIPE", "SIGALRM", "SIGTERM", "SIGSTKFLT", "SIGCHLD",
                "SIGCONT", "SIGSTOP", "SIGTSTP", "SIGTTIN", "SIGTTOU", "SIGURG", "SIGXCPU", "SIGXFSZ",
                "SIGVTALRM", "SIGPROF", "SIGWINCH", "SIGIO", "SIGPWR", "SIGSYS")


def signal_name(signal: int) -> str:
    """``SIGSEGV`` for 11; ``SIGRTMIN+3`` for real-time signals; the number for anything else."""
    if 0 < signal < len(SIGNAL_NAMES):
        return SIGNAL_NAMES[signal]
    if 34 <= signal <= 64:
        return f"SIGRTMIN+{signal - 34}" if signal - 34 <= 15 else f"SIGRTMAX-{64 - signal}"
    return str(signal)


def thread_header(trace: StackTrace) -> str:
    """``Thread 1234 "name" (crashed, signal 11 SIGSEGV):`` in the style of gdb's ``info threads``."""
    t = trace.thread
    head = f"Thread {t.tid}"
    if t.name is not None:
        head += f' "{t.name}"'
    marks = []
    if t.crashed:
        marks.append("crashed")
    if t.signal:
        marks.append(f"signal {t.signal} {signal_name(t.signal)}")
    return head + (f" ({', '.join(marks)})" if marks else "") + ":"


def frame_where(frame: Frame) -> str:
    """``func+0x1c``; ``module+0xOFFSET`` (a file address, as addr2line takes it) without a symbol; ``??``."""
    symbol = frame.symbol()
    if symbol is not None:
        return symbol
    if frame.module is not None:
        return f"{frame.module.name}+{frame.pc - frame.module.bias:#x}"
    return "??"


def traces_json(traces: list[StackTrace], fp_traces: list[StackTrace] | None = None, *, source: bool = False,
                inline: bool = False, verify: list[dict[str, Any]] | None = None,
                chunk_size: int = 1 << 20) -> Iterator[str]:
    """The ``unwind --json`` document, with a final newline, in chunks of about ``chunk_size`` characters.

    The same text as ``json.dumps({"threads": [...], "fp_threads": [...], "verify": [...]})``,
    written thread by thread instead of built whole.
    """
    import json

    buf: list[str] = []
    size = 0
    for key, group in (("threads", traces), ("fp_threads", fp_traces)):
        if group is None:
            continue
        buf.append(f'{", " if key != "threads" else "{"}"{key}": [')
        for i, trace in enumerate(group):
            text = json.dumps(trace_to_dict(trace, source=source, inline=inline))
            buf.append(f", {text}" if i else text)
            size += len(text)
            if size >= chunk_size:
                yield "".join(buf)
                buf.clear()
                size = 0
        buf.append("]")
    if verify is not None:
        buf.append(f', "verify": {json.dumps(verify)}')
    buf.append("}\n")
    yield "".join(buf)


def inline_lines(frame: Frame) -> list[str]:
    """The functions inlined at a frame's pc, innermost first, as gdb shows them: no address of their own."""
    module = f" ({frame.module.name})" if frame.module is not None else ""
    return [f"#{frame.index:<3} {'':18} in {i.function}{module}"
            f"{f' at {i.file}:{i.line}' if i.file else ''}  [inlined]" for i in frame.inlined or ()]


def frame_line(frame: Frame, *, source: bool = False) -> str:
    """``#3  0x00007f... in func+0x1c (libc.so.6) [signal frame]`` in the style of gdb's bt."""
    where = frame_where(frame)
    module = f" ({frame.module.name})" if frame.module is not None and frame.function is not None else ""
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
    lines = [thread_header(trace)]
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


def align_walks(a: list[Frame], b: list[Frame]) -> list[tuple[Frame | None, Frame | None]]:
    """Two walks of one thread side by side, row by row as they walk.

    Frames are the same frame when pc and rsp agree; those rows are the anchors,
    in walk order in both (a longest common subsequence, not a lookup by pc, so
    a frame seen at a different depth cannot pull the rows apart). Between two
    anchors, where the walks went different ways, their frames share rows in order.
    """
    from difflib import SequenceMatcher
    from itertools import zip_longest

    def key(f: Frame) -> tuple[int, int | None]:
        return (f.pc, f.sp)

    matcher = SequenceMatcher(None, [key(f) for f in a], [key(f) for f in b], autojunk=False)
    rows: list[tuple[Frame | None, Frame | None]] = []
    i = j = 0
    for ai, bj, size in matcher.get_matching_blocks():
        rows.extend(zip_longest(a[i:ai], b[j:bj]))  # the stretch where they disagree
        rows.extend(zip(a[ai:ai + size], b[bj:bj + size]))
        i, j = ai + size, bj + size
    return rows


def compare_lines(dwarf_trace: StackTrace, fp_trace: StackTrace, *, registers: bool = False,
                  source: bool = False) -> list[str]:
    """The DWARF and frame-pointer walks of one thread side by side, with what each one misses.

    With ``registers`` and ``source``, each row is followed by each side's source line
    and registers, as ``unwind`` prints them for one method.
    """
    def label(f: Frame | None) -> str:
        if f is None:
            return ""
        text = f"{f.pc:#x} {frame_where(f)}"
        if f.interrupted:
            text += " [interrupted]"
        elif f.signal_frame:
            text += " [signal]"
        return text

    lines = [thread_header(dwarf_trace), f"  {'#':<3} {'DWARF':<52} {'frame pointers':<52}"]
    rows = align_walks(dwarf_trace.frames, fp_trace.frames)
    for i, (a, b) in enumerate(rows):
        lines.append(f"  {i:<3} {label(a):<52} {label(b):<52}".rstrip())
        for name, f in (("DWARF", a), ("frame pointers", b)):
            if f is None or not (registers or source):
                continue
            where = f.source() if source else None
            lines.append(f"      {name} #{f.index}" + (f" at {where[0]}:{where[1]}" if where is not None else ""))
            if registers:
                lines.extend(register_lines(f, indent="        "))
    same = [a is not None and b is not None and a.pc == b.pc and a.sp == b.sp for a, b in rows]
    only_dw = [a for (a, _), s in zip(rows, same) if a is not None and not s]
    only_fp = [b for (_, b), s in zip(rows, same) if b is not None and not s]
    lines.append(f"  frames only DWARF finds: {', '.join(frame_where(f) for f in only_dw) or 'none'}")
    lines.append(f"  frames only frame pointers find: {', '.join(frame_where(f) for f in only_fp) or 'none'}")
    for (a, b), s in zip(rows, same):
        if not s or a is None or b is None:
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
            lines.append(f"  #{a.index} {frame_where(a)}: {'; '.join(parts)}")
    for name, tr in (("DWARF", dwarf_trace), ("frame pointers", fp_trace)):
        detail = f" ({tr.stop_detail})" if tr.stop_detail else ""
        lines.append(f"  {name}: {len(tr.frames)} frames, stop: {tr.stop_reason.describe()}{detail}; "
                     f"{'reliable' if tr.reliable else 'not reliable'}")
    return lines
