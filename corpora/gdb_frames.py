# gdb Python script: dump the oracle backtrace of a core as JSON.
#
#   GDB_FRAMES_OUT=out.json gdb -batch -nx -x corpora/gdb_frames.py BINARY CORE
#
# (build.py runs it; the "binary"/"core" fields of the JSON are filled from
# GDB_FRAMES_BINARY / GDB_FRAMES_CORE when set, else from gdb's view.)
#
# Output: {"binary", "core", "signal", "threads": [{"tid", "crashing",
#   "frames": [{"level", "pc", "function", "symbol", "type", "inlined",
#               "module", "registers": {name: int|null}}]}]}
# Only physical frames are listed: gdb's INLINE_FRAME and TAILCALL_FRAME
# entries are skipped (their names are listed in "inlined" of the physical
# frame that contains them, innermost first).
import json
import os
import re

import gdb

REGS = ["rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp", "rsp",
        "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15", "rip"]
M64 = (1 << 64) - 1
MAX_FRAMES = 5000

TYPE_NAMES = {}
for _n in ("NORMAL_FRAME", "DUMMY_FRAME", "INLINE_FRAME", "TAILCALL_FRAME",
           "SIGTRAMP_FRAME", "ARCH_FRAME", "SENTINEL_FRAME"):
    if hasattr(gdb, _n):
        TYPE_NAMES[getattr(gdb, _n)] = _n[:-len("_FRAME")]


def _setup():
    for cmd in ("set pagination off", "set confirm off", "set print pretty off",
                "set backtrace past-main on", "set backtrace past-entry on",
                "set backtrace limit %d" % MAX_FRAMES, "set debuginfod enabled off"):
        try:
            gdb.execute(cmd, to_string=True)
        except gdb.error:
            pass


def _reg(frame, name):
    try:
        v = frame.read_register(name)
    except (gdb.error, ValueError):
        return None
    try:
        if v.is_optimized_out:
            return None
        if getattr(v, "is_available", True) is False:
            return None
        return int(v) & M64
    except (gdb.error, gdb.MemoryError, ValueError):
        return None


_sym_re = re.compile(r"^(\S+)(?: \+ (\d+))? in section (\S+)(?: of (\S+))?")


def _symbol(addr):
    """ELF (minimal) symbol containing addr, via `info symbol`."""
    try:
        out = gdb.execute("info symbol %#x" % addr, to_string=True).strip()
    except gdb.error:
        return None
    m = _sym_re.match(out)
    return m.group(1) if m else None


def _module(pc):
    try:
        so = gdb.solib_name(pc)
    except Exception:
        so = None
    if so:
        return so
    try:
        prog = gdb.current_progspace().filename
    except Exception:
        prog = None
    return prog


def _frames(thread):
    thread.switch()
    out = []
    try:
        frame = gdb.newest_frame()
    except gdb.error:
        return out
    pending_inline = []
    prev_physical_type = None
    while frame is not None and len(out) < MAX_FRAMES:
        ftype = frame.type()
        if ftype in (getattr(gdb, "INLINE_FRAME", -1), getattr(gdb, "TAILCALL_FRAME", -1)):
            pending_inline.append(frame.name())
        else:
            pc = frame.pc()
            # address used to symbolize: a caller frame's pc is a return
            # address (lookup pc-1) unless the frame below it is a signal
            # frame (then pc is the interrupted instruction itself).
            if out and prev_physical_type != "SIGTRAMP" and pc > 0:
                lookup = pc - 1
            else:
                lookup = pc
            tname = TYPE_NAMES.get(ftype, str(ftype))
            out.append({
                "level": len(out),
                "pc": pc & M64,
                "function": frame.name(),
                "symbol": _symbol(lookup),
                "type": tname,
                "inlined": pending_inline,
                "module": _module(pc),
                "registers": {r: _reg(frame, r) for r in REGS},
            })
            pending_inline = []
            prev_physical_type = tname
        try:
            frame = frame.older()
        except gdb.error:
            break
    return out


def main():
    _setup()
    inf = gdb.selected_inferior()
    crashing = gdb.selected_thread()
    threads = sorted(inf.threads(), key=lambda t: t.num)
    if crashing is not None:
        threads = [crashing] + [t for t in threads if t.ptid != crashing.ptid]
    signo = None
    try:
        signo = int(gdb.parse_and_eval("$_siginfo.si_signo"))
    except gdb.error:
        pass
    core = os.environ.get("GDB_FRAMES_CORE")
    binary = os.environ.get("GDB_FRAMES_BINARY") or gdb.current_progspace().filename
    result = {"binary": binary, "core": core, "signal": signo, "threads": []}
    for i, t in enumerate(threads):
        result["threads"].append({
            "tid": t.ptid[1] or t.ptid[0],
            "crashing": i == 0 and crashing is not None,
            "frames": _frames(t),
        })
    if crashing is not None:
        crashing.switch()
    path = os.environ.get("GDB_FRAMES_OUT")
    text = json.dumps(result, indent=1)
    if path:
        with open(path, "w") as f:
            f.write(text + "\n")
    else:
        print(text)


main()
