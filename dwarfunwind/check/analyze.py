"""The abstract interpreter: follow every path of one FDE and hold each row against the state.

For each FDE the instructions of ``[pc_begin, pc_end)`` are decoded, every path
from ``pc_begin`` is followed (fall-through, direct jumps, both sides of
conditional branches; calls return; ``ret``, tail jumps out of the range,
``ud2``/``hlt``/``int3`` end a path), and at each instruction boundary the
row in force there is compared with the abstract state (:mod:`.state`):

- the CFA rule must give the CFA;
- the return-address rule must find the return address;
- each callee-saved register must be recoverable: with no rule (or
  ``same_value``) it must still hold its entry value, and a rule must lead to
  the entry value (a slot that was restored-and-reused or overwritten fails).

Register rules are evaluated against the *true* CFA, so one wrong CFA offset is
reported once, at the CFA, and not again at every register. Each column is
reported once per function, at its first (lowest) wrong address. States from
different paths are each compared at a join, then widened (values that differ
become unknown), so the walk ends. A computed rsp, an indirect jump inside the
function, a rule we cannot evaluate symbolically: "not checkable from here",
once per function, and that path stops. Nothing is guessed.
"""

from __future__ import annotations

import bisect
from typing import Any

from ..arch.x86_64 import GPR_NAMES, RA, RBP, RSP
from ..cfi.rules import EXPRESSION, OFFSET, REGISTER, SAME_VALUE, UNDEFINED, VAL_EXPRESSION, VAL_OFFSET, CFARule, Rule
from ..cfi.sections import FDE
from .decode import decode_range, format_instruction, iced
from .findings import CFA_MISMATCH, DECODE, REGISTER_MISMATCH, RETURN_ADDRESS, UNCHECKABLE, Finding, FunctionResult
from .state import ALIGNED, CFA, CONST, State, describe

#: Callee-saved registers whose entry value a normal frame must keep recoverable (psABI).
CHECKED_CALLEE_SAVED = (3, 6, 12, 13, 14, 15)
#: Clobbered by a call (psABI caller-saved integer registers).
CALLER_SAVED = (0, 1, 2, 4, 5, 8, 9, 10, 11)
#: Bound on instructions visited per FDE (joins re-visit; this keeps a hostile CFG finite).
MAX_VISITS_PER_INSN = 8

_NOT_CHECKABLE = object()
_MISSING = object()
_NOWHERE = object()  # a rule that points at a slot the function never wrote below its entry sp


class _Tables:
    """iced enum values and the register map, built once."""

    def __init__(self) -> None:
        x = iced()
        M = x.Mnemonic
        self.PUSH, self.POP, self.MOV, self.LEA = M.PUSH, M.POP, M.MOV, M.LEA
        self.ADD, self.SUB, self.AND, self.LEAVE, self.ENTER = M.ADD, M.SUB, M.AND, M.LEAVE, M.ENTER
        self.UD2, self.HLT, self.INT3, self.NOP, self.ENDBR64 = M.UD2, M.HLT, M.INT3, M.NOP, M.ENDBR64
        self.SYSCALLS = {M.SYSCALL, M.SYSENTER}
        self.modelled = {M.NOP, M.ENDBR64, M.PUSH, M.POP, M.LEAVE, M.ENTER, M.MOV, M.LEA, M.ADD, M.SUB, M.AND}
        F = x.FlowControl
        self.F_NEXT, self.F_JMP, self.F_IJMP, self.F_JCC = (F.NEXT, F.UNCONDITIONAL_BRANCH, F.INDIRECT_BRANCH,
                                                            F.CONDITIONAL_BRANCH)
        self.F_RET, self.F_CALL, self.F_ICALL, self.F_INT, self.F_EXC = (F.RETURN, F.CALL, F.INDIRECT_CALL,
                                                                         F.INTERRUPT, F.EXCEPTION)
        self.F_X = F.XBEGIN_XABORT_XEND
        K = x.OpKind
        self.K_REG, self.K_MEM = K.REGISTER, K.MEMORY
        self.IMM = {K.IMMEDIATE8, K.IMMEDIATE8TO16, K.IMMEDIATE8TO32, K.IMMEDIATE8TO64, K.IMMEDIATE16,
                    K.IMMEDIATE32, K.IMMEDIATE32TO64, K.IMMEDIATE64}
        R = x.Register
        self.full: dict[int, int] = {}  # iced 64-bit register -> DWARF number
        self.part: dict[int, int] = {}  # narrower views -> DWARF number (a write makes the value unknown)
        names64 = ["RAX", "RDX", "RCX", "RBX", "RSI", "RDI", "RBP", "RSP"] + [f"R{i}" for i in range(8, 16)]
        names32 = ["EAX", "EDX", "ECX", "EBX", "ESI", "EDI", "EBP", "ESP"] + [f"R{i}D" for i in range(8, 16)]
        names16 = ["AX", "DX", "CX", "BX", "SI", "DI", "BP", "SP"] + [f"R{i}W" for i in range(8, 16)]
        names8 = ["AL", "DL", "CL", "BL", "SIL", "DIL", "BPL", "SPL"] + [f"R{i}L" for i in range(8, 16)]
        for n, name in enumerate(names64):
            self.full[getattr(R, name)] = n
        for names in (names32, names16, names8):
            for n, name in enumerate(names):
                self.part[getattr(R, name)] = n
        for name, n in (("AH", 0), ("DH", 1), ("CH", 2), ("BH", 3)):
            self.part[getattr(R, name)] = n
        self.any = {**self.part, **self.full}
        self.RIP = R.RIP
        self.NONE_REG = R.NONE
        A = x.OpAccess
        self.WRITES = {A.WRITE, A.COND_WRITE, A.READ_WRITE, A.READ_COND_WRITE}
        self.info = x.InstructionInfoFactory()
        self._effects: dict[tuple[int, int, int], tuple[tuple[int, ...], bool]] = {}

    def effects(self, ins: Any) -> tuple[tuple[int, ...], bool]:
        """(DWARF registers written, writes memory) of an instruction we do not model one by one.

        Depends only on the opcode and the register operands, so it is cached on them.
        """
        # Written GPRs are the destination operands and the opcode's implicit ones; op2 is never a
        # written GPR in x86-64 (mulx/pdep write op0/op1).
        key = (ins.code, ins.op0_register, ins.op1_register)
        hit = self._effects.get(key)
        if hit is None:
            info = self.info.info(ins)
            regs = tuple(sorted({self.any[u.register] for u in info.used_registers()
                                 if u.access in self.WRITES and u.register in self.any}))
            mem = any(m.access in self.WRITES for m in info.used_memory())
            hit = self._effects[key] = (regs, mem)
        return hit


_T: _Tables | None = None


def _tables() -> _Tables:
    global _T
    if _T is None:
        _T = _Tables()
    return _T


def _store(mem: dict[tuple[int, int], tuple[int, int] | None], slot: tuple[int, int],
           value: tuple[int, int] | None) -> None:
    """Write a stack slot. Unknown values below the entry sp are dropped, not kept: an absent
    slot there already means "holds nothing saved", and small maps make joins cheap."""
    if value is None and (slot[0] != CFA or slot[1] < -8):
        mem.pop(slot, None)
    else:
        mem[slot] = value


def _signed(v: int) -> int:
    return v - (1 << 64) if v & (1 << 63) else v


class _Row:
    __slots__ = ("locs", "table")

    def __init__(self, table: list[tuple[int, CFARule, dict[int, Rule]]]) -> None:
        self.table = table
        self.locs = [t[0] for t in table]

    def index(self, pc: int) -> int:
        return bisect.bisect_right(self.locs, pc) - 1


class FunctionChecker:
    """Checks one FDE. ``name_of(addr) -> (name, offset)`` symbolizes findings."""

    def __init__(self, fde: FDE, table: list[tuple[int, CFARule, dict[int, Rule]]], code: bytes | memoryview,
                 name: str, name_of: Any, noreturn: Any = None, begin: int | None = None,
                 in_plt: Any = None) -> None:
        self.fde = fde
        self.rows = _Row(table)
        self.code = code
        self.begin = fde.pc_begin if begin is None else begin
        self.end = fde.pc_end
        self.name_of = name_of
        self.noreturn = noreturn  # callable(target address) -> bool, or None
        self.in_plt = in_plt  # callable(address) -> bool: lazy-binding stubs end in an indirect jump
        self.result = FunctionResult(fde.pc_begin, fde.pc_end, name)
        self.signal = fde.signal_frame
        self.ra_column = fde.cie.return_address_register
        self._first: dict[str, Finding] = {}  # column -> lowest finding
        self._ins: dict[int, Any] = {}
        self._plans: dict[int, Any] = {}
        #: True when the last instruction decoded from the range runs past its end.
        self.ends_mid_instruction = False
        #: True when the FDE does not start at a function entry (see _entry_state).
        self.fragment = False

    # -- reporting ---------------------------------------------------------------------------------

    def _finding(self, kind: str, pc: int, column: str, message: str) -> None:
        self.result.wrong.setdefault(pc, message)
        old = self._first.get(column)
        if old is not None and old.address <= pc:
            return
        name, off = self.name_of(pc)
        ins = self._ins.get(pc)
        self._first[column] = Finding(kind, pc, message, function=name, offset=off,
                                      instruction=format_instruction(ins[0]) if ins is not None else "",
                                      column=column)

    def _uncheckable(self, pc: int, why: str) -> None:
        old = self.result.uncheckable
        if old is not None and old.address <= pc:
            return
        name, off = self.name_of(pc)
        ins = self._ins.get(pc)
        self.result.uncheckable = Finding(UNCHECKABLE, pc, f"not checkable from here: {why}", function=name,
                                          offset=off,
                                          instruction=format_instruction(ins[0]) if ins is not None else "")

    # -- the walk ------------------------------------------------------------------------------------

    def run(self) -> FunctionResult:
        T = _tables()
        end = self.end
        table = self.rows.table
        if (self.code[:1] == b"\x90" and len(table) > 1 and table[1][0] == self.begin + 1
                and table[1][1] != table[0][1]):
            # gcc starts a cold partition that is only a landing pad with a nop (a landing pad at
            # offset 0 would read as "none"); the partition's real state is the row after the nop.
            self.begin += 1
            self.code = self.code[1:]
        # One pass: each instruction with its flow control and next address (read once from iced:
        # its properties are calls into Rust), and the leaders, the targets of jumps inside the
        # range, where states are kept and merged.
        by_addr = self._ins
        begin = self.begin
        leaders = {begin}
        F_JCC, F_JMP = T.F_JCC, T.F_JMP
        n = 0
        for ins in decode_range(self.code, begin):  # the code runs a few bytes past the end
            ip = ins.ip
            if ip >= end:
                break
            nxt = ins.next_ip
            if nxt > end:
                # Reported by coverage as "ends mid-instruction"; here only the whole ones are used.
                self.ends_mid_instruction = True
                break
            fc = ins.flow_control
            by_addr[ip] = (ins, fc, nxt)
            n += 1
            if fc == F_JCC or fc == F_JMP:
                t = ins.near_branch_target
                if begin <= t < end:
                    leaders.add(t)
                if fc == F_JCC:
                    leaders.add(nxt)
        self.result.instructions = n
        insns = by_addr
        stored: dict[int, State] = {}
        visits: dict[int, int] = {}
        work: list[tuple[int, State]] = [(self.begin, self._entry_state())]
        if self.fragment:
            self._expected: dict[int, tuple[int, int] | None] = {c: (c, 0) for c in range(16)}
            self._expected[RSP] = (CFA, 0)
            self._expected[self.ra_column] = (RA, 0)
        else:
            self._expected = self._expected_values(work[0][1])
        budget = MAX_VISITS_PER_INSN * max(len(insns), 1)
        while work and budget > 0:
            pc, st = work.pop()
            budget = self._path(pc, st, leaders, stored, visits, work, budget, T)
        for column in sorted(self._first, key=lambda c: self._first[c].address):
            self.result.findings.append(self._first[column])
        return self.result

    def _entry_state(self) -> State:
        """The state at pc_begin: a function entry, or, for a fragment, what its first row says.

        An FDE whose first row is not ``CFA=rsp+8, ra=c-8`` describes a piece of a
        function (gcc's ``.cold`` partitions, code split by hand): the state where
        it is entered cannot be known from here, so it is taken from the first row
        and the rest of the FDE is checked for consistency with it.
        """
        i = self.rows.index(self.begin)
        first = self.rows.table[i] if i >= 0 else None
        if first is not None:
            loc, cfa, rules = first
            ra = rules.get(self.ra_column)
            if cfa.expression is None and (cfa.register, cfa.offset) != (RSP, 8) or (
                    ra is not None and ra.kind == OFFSET and ra.arg != -8):
                self.fragment = self.result.fragment = True
                return self._fragment_state(cfa, rules)
        regs: list[tuple[int, int] | None] = [None] * 16
        tracked = range(16) if self.signal else CHECKED_CALLEE_SAVED
        for r in tracked:
            regs[r] = (r, 0)
        regs[RSP] = (CFA, -8)
        return State(regs, {(CFA, -8): (RA, 0)})

    def _fragment_state(self, cfa: CFARule, rules: dict[int, Rule]) -> State:
        regs: list[tuple[int, int] | None] = [None] * 16
        for r in CHECKED_CALLEE_SAVED:
            regs[r] = (r, 0)
        mem: dict[tuple[int, int], tuple[int, int] | None] = {}
        if cfa.expression is None and 0 <= cfa.register < 16:
            regs[cfa.register] = (CFA, -cfa.offset)
        for c, rule in rules.items():
            if rule.kind == OFFSET and (0 <= c < 16 or c == self.ra_column):
                mem[(CFA, rule.arg)] = (RA if c == self.ra_column else c, 0)  # type: ignore[index]
                if 0 <= c < 16 and c != cfa.register:
                    regs[c] = None  # saved: the register itself may hold anything by now
            elif rule.kind == REGISTER and 0 <= c < 16 and isinstance(rule.arg, int) and 0 <= rule.arg < 16:
                regs[rule.arg] = (c, 0)
                regs[c] = None
        if self.ra_column not in rules:
            mem[(CFA, -8)] = (RA, 0)
        return State(regs, mem)

    def _columns(self, regs: dict[int, Rule]) -> list[int]:
        if self.signal:
            cols = set(regs) | set(CHECKED_CALLEE_SAVED)
            return sorted(c for c in cols if 0 <= c <= RA)
        return [*CHECKED_CALLEE_SAVED, self.ra_column]

    def _expected_values(self, entry: State) -> dict[int, tuple[int, int] | None]:
        """What each column must recover: its entry value, or for signal frames what the entry row says."""
        exp: dict[int, tuple[int, int] | None] = {c: (c, 0) for c in range(16)}
        exp[RSP] = (CFA, 0)
        exp[self.ra_column] = (RA, 0)
        if self.signal and self.rows.table:
            loc, cfa, regs = self.rows.table[0]
            if loc == self.begin:
                for c, rule in regs.items():
                    if 0 <= c <= RA:
                        v = self._rule_value(rule, c, entry)
                        if v is not _NOT_CHECKABLE and v is not _NOWHERE and v is not None:
                            exp[c] = v  # type: ignore[assignment]
        return exp

    def _path(self, pc: int, st: State, leaders: set[int], stored: dict[int, State], visits: dict[int, int],
              work: list[tuple[int, State]], budget: int, T: _Tables) -> int:
        by_addr = self._ins
        last_row = -2
        last_ver = -1
        ver = 0
        row_lo = row_hi = 0
        begin, end = self.begin, self.end
        F_NEXT, F_CALL, F_ICALL, F_EXC = T.F_NEXT, T.F_CALL, T.F_ICALL, T.F_EXC
        step = self._step
        visit = self.result.visited.add
        while True:
            budget -= 1
            if budget <= 0:
                self._uncheckable(pc, "too many paths")
                return budget
            if not (begin <= pc < end):
                return budget  # fell off the end of the FDE (a call to a noreturn function before it)
            entry = by_addr.get(pc)
            if entry is None:
                entry = self._resync(pc)
                if entry is None:
                    self._uncheckable(pc, "no instruction decodes here")
                    return budget
            ins, fc, next_ip = entry
            if pc in leaders:
                old = stored.get(pc)
                if old is None:
                    stored[pc] = st.copy()
                else:
                    # Compare this path's own state at the join first, then widen.
                    self._compare(pc, st, self.rows.index(pc))
                    n = visits.get(pc, 0) + 1
                    visits[pc] = n
                    if not old.merge(st) or n > MAX_VISITS_PER_INSN:
                        return budget
                    st = old.copy()
                    last_ver = -1
            visit(pc)
            if fc == F_EXC and ins.is_invalid:
                self._first.setdefault("decode", Finding(DECODE, pc, "bytes do not decode as an instruction",
                                                         function=self.name_of(pc)[0], offset=self.name_of(pc)[1]))
                return budget
            if fc == F_CALL or fc == F_ICALL:
                if ins.mnemonic in T.SYSCALLS:
                    fc = T.F_INT  # the kernel returns here and keeps all but rax, rcx, r11
                else:
                    self._clobber_below_sp(st)  # the callee's frame: what lies below rsp is gone
                    ver += 1
            if row_lo <= pc < row_hi:
                row = last_row
            else:
                row = self.rows.index(pc)
                locs = self.rows.locs
                row_lo = locs[row] if row >= 0 else -1
                row_hi = locs[row + 1] if row + 1 < len(locs) else self.end
                if row != last_row:
                    last_ver = -1
                    last_row = row
            if ver != last_ver:
                if not self._compare(pc, st, row):
                    return budget
                last_ver = ver
            # -- control flow --
            if fc == F_NEXT:
                changed = step(ins, st, T)
                if changed is None:
                    # rsp is no longer known relative to the CFA (alloca, a computed rsp): go on
                    # while another register (rbp) still locates the CFA; rsp may come back from it.
                    st.regs[RSP] = None
                    if not any(v is not None and v[0] in (CFA, ALIGNED) for v in st.regs):
                        self._uncheckable(pc, "the stack pointer is computed and no register locates the CFA")
                        return budget
                    changed = True
                if changed:
                    ver += 1
                pc = next_ip
                continue
            if fc == T.F_RET:
                return budget
            if fc == T.F_JMP:
                t = ins.near_branch_target
                if not (self.begin <= t < self.end):
                    return budget  # tail call
                pc = t
                continue
            if fc == T.F_JCC:
                t = ins.near_branch_target
                if self.begin <= t < self.end:
                    work.append((t, st.copy()))
                pc = next_ip
                continue
            if fc == F_CALL or fc == F_ICALL:
                if fc == F_CALL and self.noreturn is not None and self.noreturn(ins.near_branch_target):
                    return budget
                nxt = by_addr.get(next_ip)
                if nxt is not None and nxt[0].mnemonic in (T.NOP, T.INT3, T.UD2):
                    # Padding after a call: compilers align the next block behind a call that does not
                    # return (a noreturn callee we cannot name, as in a stripped library). End the path.
                    return budget
                after = self.rows.index(next_ip)
                if after != row and self.rows.table[after][1] != self.rows.table[row][1]:
                    # A call leaves rsp as it was, so a CFA rule that changes exactly at the return
                    # address says the compiler knew the callee does not return: the code there is
                    # reached from elsewhere (and checked on that path).
                    return budget
                for r in CALLER_SAVED:
                    st.regs[r] = None
                ver += 1
                pc = next_ip
                continue
            if fc == T.F_IJMP:
                rsp = st.regs[RSP]
                if rsp != (CFA, -8) and not (self.in_plt is not None and self.in_plt(pc)):
                    self._uncheckable(pc, "indirect jump (targets unknown)")
                return budget  # at the entry stack depth: a tail call through a pointer
            if fc == T.F_EXC or fc == T.F_INT:
                m = ins.mnemonic
                if m == T.UD2 or m == T.INT3 or m == T.HLT:
                    return budget
                # syscall, int $0x80: the kernel returns here; iced knows what they clobber (rax, rcx, r11)
                if self._step(ins, st, T) is None:
                    self._uncheckable(pc, "the stack pointer is computed")
                    return budget
                ver += 1
                pc = next_ip
                continue
            if fc == T.F_X:
                self._uncheckable(pc, "transactional memory (xbegin/xabort)")
                return budget
            self._uncheckable(pc, "unhandled control flow")
            return budget

    def _resync(self, pc: int) -> Any:
        """Decode from a jump target inside another instruction (glibc jumps over a ``lock`` prefix)."""
        by_addr = self._ins
        off = pc - self.begin
        first = None
        for ins in decode_range(self.code[off: off + 64], pc):
            if ins.ip >= self.end:
                break
            if ins.ip in by_addr or ins.next_ip > self.end:
                break
            entry = by_addr[ins.ip] = (ins, ins.flow_control, ins.next_ip)
            if first is None:
                first = entry
        return first

    # -- transfer function ---------------------------------------------------------------------------

    def _addr(self, ins: Any, st: State, T: _Tables) -> tuple[int, int] | None:
        """The abstract address of the memory operand, when it is a known stack slot."""
        base = ins.memory_base
        if ins.memory_index != T.NONE_REG:
            return None
        r = T.full.get(base)
        if r is None:
            return None
        v = st.regs[r]
        if v is None or v[0] not in (CFA, ALIGNED):
            return None
        return (v[0], v[1] + _signed(ins.memory_displacement))

    def _clobber_below_sp(self, st: State) -> None:
        sp = st.regs[RSP]
        if sp is None:
            return
        b, o = sp
        for k in [k for k in st.mem if k[0] == b and k[1] < o]:
            _store(st.mem, k, None)

    def _step(self, ins: Any, st: State, T: _Tables) -> bool | None:
        """Apply one non-branch instruction. True if the state changed; None if rsp became unknown."""
        m = ins.mnemonic
        if m not in T.modelled:
            return self._generic(ins, st, T)
        regs = st.regs
        mem = st.mem
        if m == T.NOP or m == T.ENDBR64:
            return False
        val: tuple[int, int] | None
        if m == T.PUSH:
            k = ins.op0_kind
            if k == T.K_REG:
                r = T.full.get(ins.op0_register)
                val = regs[r] if r is not None else None
            elif k == T.K_MEM:
                a = self._addr(ins, st, T)
                val = mem.get(a) if a is not None else None
            else:
                val = None
            sp = regs[RSP]
            if sp is None:
                return None
            sp = (sp[0], sp[1] - 8)
            regs[RSP] = sp
            _store(mem, sp, val)
            return True
        if m == T.POP:
            sp = regs[RSP]
            if sp is None:
                if ins.op0_kind == T.K_REG and ins.op0_register in T.full:
                    regs[T.full[ins.op0_register]] = None
                return None
            val = mem.get(sp)
            regs[RSP] = (sp[0], sp[1] + 8)
            k = ins.op0_kind
            if k == T.K_REG:
                r = T.full.get(ins.op0_register)
                if r is not None:
                    regs[r] = val
                    if r == RSP:
                        return None if val is None else True
            elif k == T.K_MEM:
                a = self._addr(ins, st, T)  # computed with the incremented rsp, as the CPU does
                if a is not None:
                    _store(mem, a, val)
            return True
        if m == T.LEAVE:
            bp = regs[RBP]
            if bp is None:
                return None  # rsp unknown; rbp too (handled by the caller)
            regs[RBP] = mem.get(bp)
            regs[RSP] = (bp[0], bp[1] + 8)
            return True
        if m == T.ENTER:
            sp = regs[RSP]
            if sp is None or ins.immediate8_2nd != 0:
                return None
            sp = (sp[0], sp[1] - 8)
            _store(mem, sp, regs[RBP])
            regs[RBP] = sp
            regs[RSP] = (sp[0], sp[1] - ins.immediate16)
            return True
        k0 = ins.op0_kind
        if m == T.MOV or m == T.LEA:
            if k0 == T.K_REG:
                r = T.any.get(ins.op0_register)
                if r is None:
                    return False  # segment/control registers: nothing we track
                full = ins.op0_register in T.full
                val = None
                if full:
                    k1 = ins.op1_kind
                    if m == T.LEA:
                        if ins.memory_index == T.NONE_REG and ins.memory_base in T.full:
                            v = regs[T.full[ins.memory_base]]
                            if v is not None:
                                val = (v[0], v[1] + _signed(ins.memory_displacement))
                    elif k1 == T.K_REG:
                        s = T.full.get(ins.op1_register)
                        val = regs[s] if s is not None else None
                    elif k1 == T.K_MEM:
                        a = self._addr(ins, st, T)
                        val = mem.get(a) if a is not None else None
                old = regs[r]
                regs[r] = val
                if r == RSP and val is None:
                    return None
                return old != val
            if k0 == T.K_MEM:
                a = self._addr(ins, st, T)
                if a is None:
                    return False  # a store through an unknown pointer: assumed not to hit this frame
                val = None
                if ins.op1_kind == T.K_REG and ins.op1_register in T.full:
                    val = regs[T.full[ins.op1_register]]
                _store(mem, a, val)
                return True
        if (m == T.ADD or m == T.SUB) and k0 == T.K_REG and ins.op1_kind in T.IMM and ins.op0_register in T.full:
            r = T.full[ins.op0_register]
            v = regs[r]
            if v is not None:
                imm = _signed(ins.immediate(1))
                v = (v[0], v[1] + (imm if m == T.ADD else -imm))
                regs[r] = v
                return True
            if r == RSP:
                return None
            return False
        if m == T.AND and k0 == T.K_REG and ins.op1_kind in T.IMM and ins.op0_register in T.full:
            r = T.full[ins.op0_register]
            v = regs[r]
            imm = _signed(ins.immediate(1))
            if v is not None and v[0] == CFA and imm < 0 and (-imm) & (-imm - 1) == 0:
                # Stack realignment: a stack address, at an unknown distance from the CFA.
                regs[r] = (ALIGNED, 0)
                for key in [key for key in mem if key[0] == ALIGNED]:
                    del mem[key]
                return True
            regs[r] = None
            return None if r == RSP else True
        return self._generic(ins, st, T)

    def _generic(self, ins: Any, st: State, T: _Tables) -> bool | None:
        """Anything not modelled: the registers it writes become unknown; a store to a known slot clobbers it."""
        regs = st.regs
        mem = st.mem
        k0 = ins.op0_kind
        written, writes_mem = T.effects(ins)
        changed = False
        spi = ins.stack_pointer_increment
        for r in written:
            if r == RSP:
                continue
            if regs[r] is not None:
                regs[r] = None
                changed = True
        if writes_mem and k0 == T.K_MEM or (writes_mem and ins.op1_kind == T.K_MEM):
            a = self._addr(ins, st, T)
            if a is not None:
                _store(mem, a, None)
                changed = True
        if spi:
            sp = regs[RSP]
            if sp is None:
                return None
            new = (sp[0], sp[1] + spi)
            if spi < 0:  # pushf and friends: the pushed slots hold unknown values
                for o in range(new[1], sp[1], 8):
                    _store(mem, (sp[0], o), None)
            regs[RSP] = new
            return True
        if RSP in written:
            regs[RSP] = None
            return None
        return changed

    # -- comparing with the row --------------------------------------------------------------------

    def _plan(self, row_index: int) -> Any:
        """The checks of one row, flattened for the fast path: (cfa register, -offset, columns).

        None when the row needs the general path on every visit (an expression).
        """
        plan = self._plans.get(row_index, _MISSING)
        if plan is _MISSING:
            _, cfa, regs = self.rows.table[row_index]
            ra = regs.get(self.ra_column)
            cols: list[tuple[int, int, object, object]] = []
            ok = cfa.expression is None and 0 <= cfa.register < 16
            if ra is not None and ra.kind == UNDEFINED:
                plan = ()  # outermost frame: nothing to check
            else:
                for c in self._columns(regs):
                    rule = regs.get(c)
                    exp = self._expected.get(c, (c, 0))
                    if rule is None or rule.kind == SAME_VALUE:
                        if c in CHECKED_CALLEE_SAVED:
                            cols.append((c, -1, None, exp))
                    elif rule.kind == OFFSET:
                        cols.append((c, OFFSET, (CFA, rule.arg), exp))
                    elif rule.kind == UNDEFINED:
                        continue
                    else:
                        ok = False
                plan = (cfa.register, (CFA, -cfa.offset), tuple(cols)) if ok else None
            self._plans[row_index] = plan
        return plan

    def _compare(self, pc: int, st: State, row_index: int) -> bool:
        """Check the row in force at ``pc``; False when the state is lost (stop this path)."""
        if row_index < 0:
            return True
        plan = self._plans.get(row_index, _MISSING)
        if plan is _MISSING:
            plan = self._plan(row_index)
        if plan is not None:
            if not plan:
                return True
            regs = st.regs
            if regs[plan[0]] == plan[1]:
                mem = st.mem
                for c, kind, slot, exp in plan[2]:
                    if kind < 0:
                        if regs[c] != exp:
                            break
                    elif mem.get(slot, _MISSING) != exp:
                        break
                else:
                    return True  # every rule holds: the common case
        return self._compare_slow(pc, st, row_index)

    def _compare_slow(self, pc: int, st: State, row_index: int) -> bool:
        _, cfa, regs = self.rows.table[row_index]
        ra = regs.get(self.ra_column)
        if ra is not None and ra.kind == UNDEFINED:
            return True  # the outermost frame (_start, clone): nothing is unwound through it
        # CFA
        if cfa.expression is not None:
            v = self._eval(cfa.expression, st, None)
            if v is _NOT_CHECKABLE or v is _NOWHERE or v is None:
                if v is None:
                    self._finding(CFA_MISMATCH, pc, "cfa", f"CFA is {self._where_cfa(st)} here, "
                                  "CFI's expression does not give it")
                else:
                    self._uncheckable(pc, "CFA expression not affine in rsp/rbp")
            elif v != (CFA, 0):
                self._finding(CFA_MISMATCH, pc, "cfa", f"CFA is {self._where_cfa(st)} here, "
                              f"CFI's expression gives {describe(v)}")  # type: ignore[arg-type]
        else:
            r = cfa.register
            v = st.regs[r] if 0 <= r < 16 else None
            if v is not None and v[0] == CFA:
                if -v[1] != cfa.offset:
                    self._finding(CFA_MISMATCH, pc, "cfa", f"CFA is {_reg_name(r)}{-v[1]:+d} here, "
                                  f"CFI says {_reg_name(r)}{cfa.offset:+d}")
            elif not any(x is not None and x[0] in (CFA, ALIGNED) for x in st.regs):
                self._uncheckable(pc, "the CFA is no longer known relative to any register")
                return False
            elif v is None or v[0] == ALIGNED:
                # Not a definite error: we do not know this register's distance from the CFA.
                self._uncheckable(pc, f"{_reg_name(r)} is computed or realigned; CFI's CFA uses it")
            else:
                self._finding(CFA_MISMATCH, pc, "cfa", f"CFA is {self._where_cfa(st)} here, "
                              f"CFI says {_reg_name(r)}{cfa.offset:+d} ({_reg_name(r)} holds {describe(v)})")
        # Registers
        for c in self._columns(regs):
            rule = regs.get(c)
            exp = self._expected.get(c, (c, 0))
            if rule is None or rule.kind == SAME_VALUE:
                if c == self.ra_column or c == RSP:
                    continue
                if c not in CHECKED_CALLEE_SAVED:
                    continue
                have = st.regs[c]
                if have != exp:
                    self._finding(REGISTER_MISMATCH, pc, GPR_NAMES[c],
                                  f"{GPR_NAMES[c]} holds {describe(have)} here and CFI has no rule for it "
                                  f"(its entry value is {self._locate(st, exp)})")
                continue
            if rule.kind == UNDEFINED:
                continue  # the outermost frame's marker; nothing to recover
            got = self._rule_value(rule, c, st)
            if got is _NOT_CHECKABLE:
                self._uncheckable(pc, f"the rule for {_reg_name(c)} is not affine in rsp/rbp")
                continue
            if got == exp:
                continue
            kind = RETURN_ADDRESS if c == self.ra_column else REGISTER_MISMATCH
            what = "a slot holding nothing saved" if got is _NOWHERE else describe(got)  # type: ignore[arg-type]
            self._finding(kind, pc, _reg_name(c), f"{_reg_name(c)}: CFI's rule {_rule_text(rule)} finds {what}; "
                          f"the {'return address' if c == self.ra_column else 'entry value'} is "
                          f"{self._locate(st, exp)}")
        return True

    def _where_cfa(self, st: State) -> str:
        sp = st.regs[RSP]
        if sp is not None and sp[0] == CFA:
            return f"rsp{-sp[1]:+d}"
        for r in (RBP,) + tuple(range(16)):
            v = st.regs[r]
            if v is not None and v[0] == CFA:
                return f"{GPR_NAMES[r]}{-v[1]:+d}"
        return "unknown"

    def _locate(self, st: State, value: tuple[int, int] | None) -> str:
        places = [GPR_NAMES[r] for r in range(16) if st.regs[r] == value and value is not None]
        places += [f"at {describe(k)}" for k, v in sorted(st.mem.items()) if v == value and value is not None]
        return " or ".join(places[:2]) if places else "lost"

    def _rule_value(self, rule: Rule, c: int, st: State) -> object:
        kind, arg = rule
        if kind == OFFSET:
            assert isinstance(arg, int)
            return self._load(st, (CFA, arg))
        if kind == VAL_OFFSET:
            assert isinstance(arg, int)
            return (CFA, arg)
        if kind == REGISTER:
            assert isinstance(arg, int)
            return st.regs[arg] if 0 <= arg < 16 else _NOT_CHECKABLE
        if kind == EXPRESSION:
            assert isinstance(arg, bytes)
            a = self._eval(arg, st, (CFA, 0))
            if a is _NOT_CHECKABLE or a is None or a is _NOWHERE:
                return _NOT_CHECKABLE
            return self._load(st, a)  # type: ignore[arg-type]
        if kind == VAL_EXPRESSION:
            assert isinstance(arg, bytes)
            return self._eval(arg, st, (CFA, 0))
        if kind == SAME_VALUE:
            return st.regs[c] if c < 16 else _NOT_CHECKABLE
        return _NOT_CHECKABLE

    def _load(self, st: State, addr: tuple[int, int]) -> object:
        if addr[0] not in (CFA, ALIGNED):
            return _NOT_CHECKABLE
        if addr in st.mem:
            return st.mem[addr]
        if addr[0] == CFA and addr[1] < -8:
            return _NOWHERE  # below the entry sp and never written by this function
        return _NOT_CHECKABLE  # the caller's frame: not ours to know

    def _eval(self, expr: bytes, st: State, push: tuple[int, int] | None) -> object:
        """Evaluate a DWARF expression symbolically: affine in registers, derefs of known slots."""
        from ..cfi.encoding import read_sleb128, read_uleb128

        stack: list[object] = [] if push is None else [push]
        pos = 0
        n = len(expr)
        steps = 0
        try:
            while pos < n:
                steps += 1
                if steps > 64:
                    return _NOT_CHECKABLE
                op = expr[pos]
                pos += 1
                if 0x70 <= op <= 0x7F or op == 0x92:  # DW_OP_bregN / bregx
                    if op == 0x92:
                        reg, pos = read_uleb128(expr, pos)
                    else:
                        reg = op - 0x70
                    off, pos = read_sleb128(expr, pos)
                    v = st.regs[reg] if reg < 16 else None
                    if v is None:
                        return _NOT_CHECKABLE
                    stack.append((v[0], v[1] + off))
                elif 0x30 <= op <= 0x4F:
                    stack.append((CONST, op - 0x30))
                elif op in (0x08, 0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x0E, 0x0F):
                    size = 1 << ((op - 0x08) // 2)
                    val = int.from_bytes(expr[pos:pos + size], "little", signed=bool((op - 0x08) & 1))
                    pos += size
                    stack.append((CONST, val))
                elif op == 0x10:
                    val, pos = read_uleb128(expr, pos)
                    stack.append((CONST, val))
                elif op == 0x11:
                    val, pos = read_sleb128(expr, pos)
                    stack.append((CONST, val))
                elif op == 0x23:  # plus_uconst
                    val, pos = read_uleb128(expr, pos)
                    a = stack.pop()
                    if not isinstance(a, tuple):
                        return _NOT_CHECKABLE
                    stack.append((a[0], a[1] + val))
                elif op in (0x22, 0x1C):  # plus, minus
                    b = stack.pop()
                    a = stack.pop()
                    if not isinstance(a, tuple) or not isinstance(b, tuple):
                        return _NOT_CHECKABLE
                    if b[0] == CONST:
                        stack.append((a[0], a[1] + b[1] if op == 0x22 else a[1] - b[1]))
                    elif a[0] == CONST and op == 0x22:
                        stack.append((b[0], a[1] + b[1]))
                    elif op == 0x1C and a[0] == b[0]:
                        stack.append((CONST, a[1] - b[1]))
                    else:
                        return _NOT_CHECKABLE
                elif op == 0x06:  # deref
                    a = stack.pop()
                    if not isinstance(a, tuple):
                        return _NOT_CHECKABLE
                    v2 = self._load(st, a)
                    if v2 is _NOT_CHECKABLE or v2 is _NOWHERE:
                        return _NOT_CHECKABLE
                    stack.append(v2)
                elif op == 0x12:
                    stack.append(stack[-1])
                elif op == 0x13:
                    stack.pop()
                else:
                    return _NOT_CHECKABLE
        except (IndexError, ValueError):
            return _NOT_CHECKABLE
        if not stack:
            return _NOT_CHECKABLE
        top = stack[-1]
        if top is None:
            return None
        if isinstance(top, tuple) and top[0] == CONST:
            return _NOT_CHECKABLE
        return top


def _reg_name(r: int) -> str:
    if 0 <= r < 16:
        return GPR_NAMES[r]
    return "ra" if r == RA else f"r{r}"


def _rule_text(rule: Rule) -> str:
    from ..cfi.rules import format_rule

    return format_rule(rule)
