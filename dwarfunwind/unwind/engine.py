"""The frame loop: method choice and fallback, termination, symbols, reliability."""

from __future__ import annotations

from ..arch.x86_64 import RA, RSP
from ..cfi.budget import Budget
from ..errors import BudgetExceeded, CFIError, ExpressionError, MemoryReadError, RegisterUnavailable, StackCopyEnd
from ..modules import Module, ModuleMap
from ..targets.base import Target, ThreadInfo
from . import dwarf, fp
from .frame import Frame, StackTrace, StopReason
from .memory import walk_memory

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: collections.abc and typing are start-up cost
    from collections.abc import Iterable
    from typing import Protocol

    from .dwarf import Plan, ReadMemory
    from .memory import Locate, ReadWord
else:
    from .._typing import Protocol

DEFAULT_MAX_FRAMES = 4096
#: The registers a walk tracks: rax..r15 and rip.
_TRACKED = frozenset(range(RA + 1))
#: Bound on the per-pc caches of compiled rows and symbols (a profiler's working set is far smaller).
MAX_CACHED_PCS = 1 << 16
METHODS = ("dwarf", "fp")

#: The name of the fake function whose address + 1 CREATE_PT_REGS_FRAME plants as a return address.
PT_REGS_MARKER = "pt_regs"


class WalkMemo(Protocol):
    """What a walk asks of a memo of earlier walks (dwarfunwind.perf.memo.SuffixMemo is one).

    The memo sees every read (``begin`` hands out the walk's readers), hears when each step
    is done, may finish the walk from the frame just stepped to (``take``, before that frame
    is built: a hit makes it unnecessary), and learns the result.
    """

    def begin(self, target: Target) -> tuple[ReadMemory, ReadWord]: ...

    def stepped(self) -> None: ...

    def take(self, trace: StackTrace, pc: int, regs: dict[int, int], method: str, interrupted: bool,
             seen: set[tuple[int, int | None]], max_frames: int) -> bool: ...

    def end(self, trace: StackTrace) -> None: ...


class Unwinder:
    """Walks the threads of one target.

    Modules are opened once and their rows cached, so repeated walks (a
    profiler sampling the same process) reuse everything.
    """

    def __init__(self, target: Target, modules: ModuleMap | None = None, *, exe: str | None = None,
                 sysroot: str | None = None) -> None:
        self.target = target
        self._markers: dict[int, bool] = {}
        #: lookup pc -> (its module, its compiled row or None): a warm walk does no module or row search.
        self._plans: dict[int, tuple[Module | None, Plan | None]] = {}
        #: address -> (its module, function, function start) for naming frames.
        self._names: dict[int, tuple[Module | None, str | None, int]] = {}
        self.modules = modules if modules is not None else ModuleMap.from_target(target, exe=exe, sysroot=sysroot)

    @property
    def modules(self) -> ModuleMap:
        """The modules walks look pcs up in."""
        return self._modules

    @modules.setter
    def modules(self, modules: ModuleMap) -> None:
        # The per-pc caches answer for the old map: another file may now be mapped at those pcs
        # (an exec, dlclose then dlopen). Modules kept in the new map keep their own caches.
        self._modules = modules
        self._plans.clear()
        self._names.clear()
        self._markers.clear()

    # -- public -----------------------------------------------------------------------------------

    def unwind(self, *, method: str = "dwarf", max_frames: int = DEFAULT_MAX_FRAMES,
               tids: Iterable[int] | None = None, budget: Budget | None = None) -> list[StackTrace]:
        """A :class:`StackTrace` per thread (crashed thread first), optionally only ``tids``.

        All threads share one ``budget`` (by default a fresh one for this call): the work
        one input may cost is bounded however many threads it has (docs/security.md).
        """
        wanted = set(tids) if tids is not None else None
        if budget is None:
            budget = self.new_budget()
        return [self.unwind_thread(t, method=method, max_frames=max_frames, budget=budget)
                for t in self.target.threads() if wanted is None or t.tid in wanted]

    def unwind_thread(self, thread: ThreadInfo, *, method: str = "dwarf",
                      max_frames: int = DEFAULT_MAX_FRAMES, budget: Budget | None = None,
                      memo: WalkMemo | None = None) -> StackTrace:
        """Walk one thread.

        ``method="dwarf"`` uses CFI and falls back to frame pointers for a frame
        without CFI (marked ``method="fp"``); ``method="fp"`` uses only the rbp chain.
        The CFI work is charged to ``budget`` (a fresh one when None); when it runs
        out the walk ends with stop reason ``budget``, the frames before it kept.
        ``memo`` (a profiler's, across the samples of one process) may supply the
        rest of the walk from an earlier one that reached the same frame.
        """
        if method not in METHODS:
            raise ValueError(f"unknown method {method!r}")
        if memo is not None and method != "dwarf":
            raise ValueError("a walk memo serves walks with method 'dwarf' (its entries do not say how they stepped)")
        if budget is None:
            budget = self.new_budget()
        trace = StackTrace(thread, method=method)
        known = thread.registers
        # rax..r15 and rip: the usual register set is copied whole, others filtered.
        regs = dict(known) if _TRACKED.issuperset(known) else {r: v for r, v in known.items() if 0 <= r <= RA}
        if RA not in regs:
            trace.stop_reason, trace.stop_detail = StopReason.REGISTER, "rip is not known"
            return trace
        frame = self._frame(0, regs, "initial", interrupted=False)
        trace.frames.append(frame)
        seen: set[tuple[int, int | None]] = {(frame.pc, regs.get(RSP))}
        locate: Locate | None
        if memo is not None:  # it must see every read: no direct access
            (read, read_word), locate = memo.begin(self.target), None
        else:
            read = self.target.read_memory
            # Words are read in place from a core's mapping, or through a page cache held for this
            # walk only (a live process may run again between walks).
            read_word, locate = walk_memory(self.target)
        max_frames = max(1, max_frames)
        while True:
            if len(trace.frames) >= max_frames:
                trace.stop_reason = StopReason.FRAME_LIMIT
                trace.stop_detail = f"{max_frames} frames"
                break
            step = self._step(frame, method, read, budget, read_word, locate)
            if memo is not None:
                memo.stepped()
            if len(step) == 2:  # (reason, detail): the walk ends here
                trace.stop_reason, trace.stop_detail = step
                break
            caller_regs, how, interrupted = step
            pc = caller_regs[RA]
            if pc == 0:
                trace.stop_reason = StopReason.PC_ZERO
                break
            new = caller_regs.get(RSP)
            key = (pc, new)
            if key in seen:
                trace.stop_reason = StopReason.LOOP
                trace.stop_detail = f"pc {pc:#x} sp {new:#x}" if new is not None else f"pc {pc:#x}"
                break
            seen.add(key)
            # Across a signal frame the stack may switch (sigaltstack); elsewhere it must grow. A
            # frame stopped at any instruction (frame 0, interrupted) may already have popped its
            # return address into a register (__vfork: pop %rdi; syscall): its caller's rsp is its own.
            if not frame.signal_frame and not interrupted:
                old = frame.registers.get(RSP)
                if old is not None and new is not None and (
                        new < old or new == old and frame.index and not frame.interrupted):
                    trace.stop_reason = StopReason.CFA_NOT_INCREASING
                    trace.stop_detail = f"rsp {old:#x} -> {new:#x}"
                    break
            if memo is not None and memo.take(trace, pc, caller_regs, how, interrupted, seen, max_frames):
                break
            frame = self._frame(frame.index + 1, caller_regs, how, interrupted=interrupted)
            trace.frames.append(frame)
        if memo is not None:
            memo.end(trace)
        return trace

    def new_budget(self) -> Budget:
        """A fresh budget for one input: this target (named in its messages)."""
        return Budget(getattr(self.target, "name", "") or "")

    # -- one step ---------------------------------------------------------------------------------

    def _step(self, frame: Frame, method: str, read: ReadMemory, budget: Budget, read_word: ReadWord,
              locate: Locate | None) -> tuple[dict[int, int], str, bool] | tuple[StopReason, str]:
        """The caller's ``(registers, method, interrupted)``, or ``(stop reason, detail)``.

        The caller's Frame is built by the loop, after the memo had its chance to make it unnecessary.
        """
        lookup = frame.pc if frame.index == 0 or frame.interrupted else frame.pc - 1  # frame.lookup_pc
        if method == "dwarf":
            hit = self._plans.get(lookup)
            if hit is None:
                try:
                    hit = self._plan_for(lookup, budget)
                except BudgetExceeded as e:
                    module = self.modules.find(lookup)
                    return StopReason.BUDGET, f"{e}; frame {frame.index} in {module.path if module else '?'}"
            module, plan = hit
        else:
            module, plan = self.modules.find(lookup), None
        if plan is not None:
            try:
                cfa, regs, outermost = dwarf.step_plan(plan, frame.registers, read_word, locate, read, budget)
            except BudgetExceeded as e:
                fde = plan[9].fde
                return StopReason.BUDGET, (f"{e}; frame {frame.index} in {module.path if module else '?'} "
                                           f"{fde.section} FDE at {fde.offset:#x}")
            except MemoryReadError as e:
                return StopReason.STACK_COPY_END if isinstance(e, StackCopyEnd) else StopReason.MEMORY, str(e)
            except RegisterUnavailable as e:
                return StopReason.REGISTER, str(e)
            except (ExpressionError, CFIError) as e:
                return StopReason.CFI_ERROR, str(e)
            frame.cfa = cfa
            signal_frame = plan[6]
            if signal_frame and not frame.signal_frame:
                frame.signal_frame = True
                # A trampoline's "return address" is its first instruction, not a call site:
                # name it at pc (its FDE starts a byte early only so pc - 1 finds the CFI).
                self._symbolize(frame, frame.pc)
            if outermost:
                return StopReason.OUTERMOST, ""
            if RA not in regs:
                return StopReason.REGISTER, "the return address could not be recovered"
            return regs, "dwarf", signal_frame
        # No CFI here: the frame-pointer chain, marked as such.
        try:
            cfa, regs, interrupted = fp.step(frame.registers, read, self._is_marker)
        except (fp.FramePointerEnd, MemoryReadError) as e:
            if isinstance(e, StackCopyEnd):
                return StopReason.STACK_COPY_END, str(e)
            if method == "dwarf":
                reason = StopReason.NO_MODULE if module is None else StopReason.NO_CFI
                return reason, f"pc {frame.pc:#x}; frame pointers: {e}"
            return StopReason.FP_END, str(e)
        if interrupted:
            frame.signal_frame = True  # it returns into a pt_regs marker: the next frame was interrupted
        else:
            frame.cfa = cfa
        return regs, "fp", interrupted

    def _plan_for(self, lookup: int, budget: Budget) -> tuple[Module | None, Plan | None]:
        """The module and compiled row for ``lookup`` (cached; BudgetExceeded propagates, nothing cached)."""
        module = self.modules.find(lookup)
        row = module.row_for(lookup, budget) if module is not None else None
        hit = (module, dwarf.compile_row(row, module.bias) if row is not None and module is not None else None)
        if len(self._plans) < MAX_CACHED_PCS:
            self._plans[lookup] = hit
        return hit

    def frame_at(self, index: int, pc: int, method: str) -> Frame:
        """A frame at ``pc`` (exact in frame 0, a return address above it), named as a walk's frames are:
        for a chain someone else walked (perf's own callchains, dwarfunwind/perf/callchain.py)."""
        return self._frame(index, {RA: pc}, method, interrupted=False)

    def _frame(self, index: int, regs: dict[int, int], method: str, *, interrupted: bool) -> Frame:
        pc = regs[RA]
        frame = Frame(index, pc, None, regs, method, interrupted=interrupted)
        self._symbolize(frame, pc if index == 0 or interrupted else pc - 1)  # frame.lookup_pc
        return frame

    def _symbolize(self, frame: Frame, address: int) -> None:
        hit = self._names.get(address)
        if hit is None:
            module = self.modules.find(address)
            sym = module.symbolize(address) if module is not None else None
            hit = (module, sym[0], address - sym[1]) if sym is not None else (module, None, 0)
            if len(self._names) < MAX_CACHED_PCS:
                self._names[address] = hit
        frame.module = hit[0]
        if hit[1] is not None:
            frame.function = frame.linkage_name = hit[1]  # demangled later, all names in one batch
            frame.offset = frame.pc - hit[2]
        else:
            frame.function = frame.linkage_name = frame.offset = None

    def _is_marker(self, address: int) -> bool:
        """True if ``address`` is ``pt_regs+1``: the return address CREATE_PT_REGS_FRAME plants.

        Looked up at address - 1, as any unwinder looks up a return address:
        that is why the marker is +1 and the fake function two bytes long.
        """
        hit = self._markers.get(address)
        if hit is None:
            module: Module | None = self.modules.find(address - 1)
            sym = module.symbolize(address - 1) if module is not None else None
            hit = sym is not None and sym[0] == PT_REGS_MARKER and sym[1] == 0
            self._markers[address] = hit
        return hit

