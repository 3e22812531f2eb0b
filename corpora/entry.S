/*
 * Seed scenario: a user-space replica of a Linux kernel exception entry.
 *
 *   main -> caller_a -> faulting_func --"fault"--> page_fault (entry stub)
 *        -> do_page_fault(struct pt_regs *) -> some_other_func -> some_func
 *        -> die_here() (SIGABRT from some_func's own frame: die_here.h)
 *
 * faulting_func loads a distinct magic value into every GPR except rsp
 * (see magic.h) and then executes `call page_fault` at its "faulting
 * instruction".  page_fault treats that call like a hardware trap: the
 * faulting ip is the address of the call instruction (return address - 5)
 * and the interrupted sp is the value rsp had before the call (the address
 * just above the return-address slot).  It saves every register into a
 * struct pt_regs block and describes the block with signal-frame CFI in the
 * style of the old kernel CFI macros (CFI_REL_OFFSET after every store), so
 * a DWARF unwinder gets from do_page_fault back into faulting_func and
 * recovers *every* register there (all the magic values).
 *
 * Build with -DMARKER to also plant the CREATE_PT_REGS_FRAME marker frame
 * that lets a frame-pointer (rbp chain) unwinder cross the entry: see the
 * comment at pt_regs below.
 *
 * Stack layout inside page_fault once the block is built
 * (R = value of rsp at entry = address of the return-address slot,
 *  CFA = R + 8 = interrupted sp, base = R - 168 = start of pt_regs):
 *
 *    CFA       -> (faulting_func's frame)
 *    CFA - 8   return address into faulting_func (ip + 5)
 *    CFA - 16  ss        (pt_regs.ss,      base + 160)
 *    CFA - 24  sp        (pt_regs.sp,      base + 152)  = CFA
 *    CFA - 32  flags     ...
 *    CFA - 40  cs
 *    CFA - 48  ip                                       = *(CFA - 8) - 5
 *    CFA - 56  orig_ax = -1
 *    CFA - 64 .. CFA - 176: di si dx cx ax r8 r9 r10 r11 bx bp r12 r13 r14 r15
 *
 * CFI rules used (offsets are from the CFA unless noted):
 *   CFA  = rsp + 176 + D, D = extra bytes pushed below the block (0, 8, 16, 24)
 *   rip  = val_expression(*(CFA - 8) - 5)  until the ip slot is written
 *          (DW_OP_lit8 DW_OP_minus DW_OP_deref DW_OP_lit5 DW_OP_minus: this
 *          relies on the CFA being pushed on the DWARF stack before the
 *          expression is evaluated, as DWARF requires), then offset(-48)
 *   rsp  = CFA (default) until the sp slot is written, then
 *          expression(DW_OP_breg7 152+D)
 *   rbx  = expression(DW_OP_breg7 40+D)
 *   r12  = expression(DW_OP_breg7 24+D)
 *   r13  = val_expression(DW_OP_breg7 16+D; DW_OP_deref)
 *   all other GPRs: offset(slot - 176)
 * The breg7 (rsp-relative) rules are re-emitted after every rsp change.
 */
#include "magic.h"
#include "pt_regs.h"

#define CFA_OFF (PTREGS_SIZE + 8)	/* CFA - base */

/* DW_CFA_expression = 0x10, DW_CFA_val_expression = 0x16,
 * DW_OP_breg7 = 0x77 (SLEB128 offset), DW_OP_deref = 0x06.
 * Emits  op regno len DW_OP_breg7 off [DW_OP_deref]  with a minimal SLEB128
 * encoding of off (0 <= off < 8192). */
.macro CFI_BREG7_RULE op, regno, off, deref=0
  .if (\off) < 64
    .if \deref
      .cfi_escape \op, \regno, 3, 0x77, (\off), 0x06
    .else
      .cfi_escape \op, \regno, 2, 0x77, (\off)
    .endif
  .else
    .if \deref
      .cfi_escape \op, \regno, 4, 0x77, (((\off) & 0x7f) | 0x80), ((\off) >> 7), 0x06
    .else
      .cfi_escape \op, \regno, 3, 0x77, (((\off) & 0x7f) | 0x80), ((\off) >> 7)
    .endif
  .endif
.endm

/* rsp-relative rules for the registers saved with expressions; d = bytes
 * currently pushed below the pt_regs block. */
.macro CFI_GPR_EXPRS d
	CFI_BREG7_RULE 0x10, 3, (PTREGS_RBX + \d)		/* rbx */
	CFI_BREG7_RULE 0x10, 12, (PTREGS_R12 + \d)		/* r12 */
	CFI_BREG7_RULE 0x16, 13, (PTREGS_R13 + \d), 1		/* r13 (value) */
.endm
.macro CFI_SP_EXPR d
	CFI_BREG7_RULE 0x10, 7, (PTREGS_RSP + \d)		/* rsp */
.endm
.macro CFI_ALL_EXPRS d
	CFI_GPR_EXPRS \d
	CFI_SP_EXPR \d
.endm

	.text

/* ------------------------------------------------------------------ */
	.globl	faulting_func
	.type	faulting_func, @function
	.p2align 4
faulting_func:
	.cfi_startproc
	FAULTING_FUNC_PROLOGUE_AND_LOAD_MAGIC
.Lfaulting_insn:
	/* The "faulting instruction".  CFA = rsp + 56 here; rbp is magic. */
	call	page_fault
	ud2			/* never reached; keeps the return address inside faulting_func */
	.cfi_endproc
	.size	faulting_func, .-faulting_func

/* ------------------------------------------------------------------ */
	.globl	page_fault
	.type	page_fault, @function
	.p2align 4
page_fault:
	.cfi_startproc
	.cfi_signal_frame
	/* CIE default: CFA = rsp + 8.  The unwound rip is the faulting ip,
	 * i.e. return address - 5, from the very first instruction on. */
	.cfi_escape 0x16, 16, 5, 0x38, 0x1c, 0x06, 0x35, 0x1c
	leaq	-PTREGS_SIZE(%rsp), %rsp	/* lea: does not touch eflags */
	.cfi_adjust_cfa_offset PTREGS_SIZE
	movq	%r15, PTREGS_R15(%rsp)
	.cfi_offset r15, PTREGS_R15 - CFA_OFF
	movq	%r14, PTREGS_R14(%rsp)
	.cfi_offset r14, PTREGS_R14 - CFA_OFF
	movq	%r13, PTREGS_R13(%rsp)
	CFI_BREG7_RULE 0x16, 13, PTREGS_R13, 1
	movq	%r12, PTREGS_R12(%rsp)
	CFI_BREG7_RULE 0x10, 12, PTREGS_R12
	movq	%rbp, PTREGS_RBP(%rsp)
	.cfi_offset rbp, PTREGS_RBP - CFA_OFF
	movq	%rbx, PTREGS_RBX(%rsp)
	CFI_BREG7_RULE 0x10, 3, PTREGS_RBX
	movq	%r11, PTREGS_R11(%rsp)
	.cfi_offset r11, PTREGS_R11 - CFA_OFF
	movq	%r10, PTREGS_R10(%rsp)
	.cfi_offset r10, PTREGS_R10 - CFA_OFF
	movq	%r9, PTREGS_R9(%rsp)
	.cfi_offset r9, PTREGS_R9 - CFA_OFF
	movq	%r8, PTREGS_R8(%rsp)
	.cfi_offset r8, PTREGS_R8 - CFA_OFF
	movq	%rax, PTREGS_RAX(%rsp)
	.cfi_offset rax, PTREGS_RAX - CFA_OFF
	movq	%rcx, PTREGS_RCX(%rsp)
	.cfi_offset rcx, PTREGS_RCX - CFA_OFF
	movq	%rdx, PTREGS_RDX(%rsp)
	.cfi_offset rdx, PTREGS_RDX - CFA_OFF
	movq	%rsi, PTREGS_RSI(%rsp)
	.cfi_offset rsi, PTREGS_RSI - CFA_OFF
	movq	%rdi, PTREGS_RDI(%rsp)
	.cfi_offset rdi, PTREGS_RDI - CFA_OFF
	/* all GPRs saved; rax is scratch from here on */
	pushfq
	.cfi_adjust_cfa_offset 8
	CFI_GPR_EXPRS 8
	popq	PTREGS_EFLAGS(%rsp)	/* address computed after the pop's rsp += 8 */
	.cfi_adjust_cfa_offset -8
	CFI_GPR_EXPRS 0
	movq	$-1, PTREGS_ORIG_RAX(%rsp)
	movq	%cs, %rax
	movq	%rax, PTREGS_CS(%rsp)
	movq	%ss, %rax
	movq	%rax, PTREGS_SS(%rsp)
	leaq	CFA_OFF(%rsp), %rax		/* interrupted sp = CFA */
	movq	%rax, PTREGS_RSP(%rsp)
	CFI_SP_EXPR 0
	movq	PTREGS_SIZE(%rsp), %rax		/* return address */
	subq	$5, %rax			/* = address of the call = faulting ip */
	movq	%rax, PTREGS_RIP(%rsp)
	.cfi_offset rip, PTREGS_RIP - CFA_OFF
	/* pt_regs block complete */
	movq	%rsp, %rdi
#ifdef MARKER
	/* CREATE_PT_REGS_FRAME */
	pushq	%rdi				/* pt_regs pointer */
	.cfi_adjust_cfa_offset 8
	CFI_ALL_EXPRS 8
	leaq	pt_regs+1(%rip), %rax
	pushq	%rax				/* fake return address pt_regs+1 */
	.cfi_adjust_cfa_offset 8
	CFI_ALL_EXPRS 16
	pushq	%rbp				/* (magic) rbp; CFI keeps rbp at its pt_regs slot */
	.cfi_adjust_cfa_offset 8
	CFI_ALL_EXPRS 24
	movq	%rsp, %rbp			/* rbp -> {old rbp, pt_regs+1, &pt_regs} */
#else
	subq	$8, %rsp			/* 16-byte alignment for the call */
	.cfi_adjust_cfa_offset 8
	CFI_ALL_EXPRS 8
#endif
	call	do_page_fault
	ud2					/* do_page_fault never returns */
	.cfi_endproc
	.size	page_fault, .-page_fault

/* ------------------------------------------------------------------ */
/*
 * The fake function `pt_regs` (marker for frame-pointer unwinders).
 *
 * With -DMARKER, page_fault builds a fake frame record
 *     [rbp] = interrupted rbp, [rbp+8] = pt_regs+1, [rbp+16] = &struct pt_regs
 * An rbp-chain walker treats [rbp+8] as a return address.  It recognizes the
 * value pt_regs+1, reads the pt_regs pointer from the next slot and resumes
 * from the saved registers (ip, sp, bp) of the interrupted function.
 *
 * Why +1: a return address points *after* a call instruction, so unwinders
 * symbolize/look up return_address - 1.  With the fake return address
 * pt_regs+1, that lookup lands on pt_regs+0, i.e. inside `pt_regs`, so the
 * frame is reported as "pt_regs" by symbolizers, and the walker can match
 * the exact value pt_regs+1 without colliding with any real return address
 * (nothing ever calls pt_regs).
 *
 * Why two bytes: pt_regs+1 itself must also lie inside the function.  With a
 * one-byte function, pt_regs+1 would be the first byte of whatever symbol
 * follows, so anything that looks up the raw value (not value-1) would
 * attribute the marker to the next function.  With two bytes both pt_regs+0
 * and pt_regs+1 belong to `pt_regs`.  It has no FDE: DWARF unwinders never
 * need to unwind through it (page_fault's CFI describes the pt_regs block).
 */
	.globl	pt_regs
	.type	pt_regs, @function
	.p2align 4
pt_regs:
	nop
	nop
	.size	pt_regs, .-pt_regs

/* Offset of the faulting instruction inside faulting_func, for tests. */
	.section .rodata
	.globl	faulting_insn_offset
	.type	faulting_insn_offset, @object
	.p2align 3
faulting_insn_offset:
	.quad	.Lfaulting_insn - faulting_func
	.size	faulting_insn_offset, 8

	.section .note.GNU-stack, "", @progbits
