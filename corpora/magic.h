/*
 * Magic register values loaded by faulting_func (entry.S, sigsegv_entry.S).
 *
 * MAGIC(n) = 0xC0DE000000000000 | (0x10 + n) repeated in the low 6 bytes,
 * where n is the DWARF x86-64 register number:
 *   0 rax 1 rdx 2 rcx 3 rbx 4 rsi 5 rdi 6 rbp (7 rsp: not loaded) 8..15 r8..r15
 * The values are non-canonical addresses, so any attempt to dereference one
 * (e.g. a frame-pointer walker following the magic rbp) faults instead of
 * silently reading memory.  The table is published in expected/magic.json.
 */
#ifndef CORPORA_MAGIC_H
#define CORPORA_MAGIC_H

#define MAGIC_RAX 0xC0DE101010101010
#define MAGIC_RDX 0xC0DE111111111111
#define MAGIC_RCX 0xC0DE121212121212
#define MAGIC_RBX 0xC0DE131313131313
#define MAGIC_RSI 0xC0DE141414141414
#define MAGIC_RDI 0xC0DE151515151515
#define MAGIC_RBP 0xC0DE161616161616
#define MAGIC_R8  0xC0DE181818181818
#define MAGIC_R9  0xC0DE191919191919
#define MAGIC_R10 0xC0DE1A1A1A1A1A1A
#define MAGIC_R11 0xC0DE1B1B1B1B1B1B
#define MAGIC_R12 0xC0DE1C1C1C1C1C1C
#define MAGIC_R13 0xC0DE1D1D1D1D1D1D
#define MAGIC_R14 0xC0DE1E1E1E1E1E1E
#define MAGIC_R15 0xC0DE1F1F1F1F1F1F

#ifdef __ASSEMBLER__
/*
 * Prologue of faulting_func: save the caller's callee-saved registers
 * (with CFI: the CFA stays rsp-based, never rbp-based, because rbp will
 * hold a magic value), then load every GPR except rsp with its magic value.
 * After this macro: CFA = rsp + 56.
 */
.macro FAULTING_FUNC_PROLOGUE_AND_LOAD_MAGIC
	pushq	%rbx
	.cfi_adjust_cfa_offset 8
	.cfi_offset rbx, -16
	pushq	%rbp
	.cfi_adjust_cfa_offset 8
	.cfi_offset rbp, -24
	pushq	%r12
	.cfi_adjust_cfa_offset 8
	.cfi_offset r12, -32
	pushq	%r13
	.cfi_adjust_cfa_offset 8
	.cfi_offset r13, -40
	pushq	%r14
	.cfi_adjust_cfa_offset 8
	.cfi_offset r14, -48
	pushq	%r15
	.cfi_adjust_cfa_offset 8
	.cfi_offset r15, -56
	movabsq	$MAGIC_RAX, %rax
	movabsq	$MAGIC_RDX, %rdx
	movabsq	$MAGIC_RCX, %rcx
	movabsq	$MAGIC_RBX, %rbx
	movabsq	$MAGIC_RSI, %rsi
	movabsq	$MAGIC_RDI, %rdi
	movabsq	$MAGIC_RBP, %rbp
	movabsq	$MAGIC_R8,  %r8
	movabsq	$MAGIC_R9,  %r9
	movabsq	$MAGIC_R10, %r10
	movabsq	$MAGIC_R11, %r11
	movabsq	$MAGIC_R12, %r12
	movabsq	$MAGIC_R13, %r13
	movabsq	$MAGIC_R14, %r14
	movabsq	$MAGIC_R15, %r15
.endm
#else
#include <stdint.h>
static const struct { const char *name; uint64_t value; } magic_table[] = {
	{"rax", MAGIC_RAX}, {"rdx", MAGIC_RDX}, {"rcx", MAGIC_RCX},
	{"rbx", MAGIC_RBX}, {"rsi", MAGIC_RSI}, {"rdi", MAGIC_RDI},
	{"rbp", MAGIC_RBP}, {"r8", MAGIC_R8}, {"r9", MAGIC_R9},
	{"r10", MAGIC_R10}, {"r11", MAGIC_R11}, {"r12", MAGIC_R12},
	{"r13", MAGIC_R13}, {"r14", MAGIC_R14}, {"r15", MAGIC_R15},
};
#endif

#endif
