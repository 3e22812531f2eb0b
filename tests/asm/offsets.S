/* DW_CFA_offset, offset_extended (reg > 63), offset_extended_sf (CFA+N with N>0),
   big (multi-byte ULEB) offsets, xmm columns */
	.text
	.globl	f_offsets
	.type	f_offsets, @function
f_offsets:
	.cfi_startproc
	push	%rbx
	.cfi_def_cfa_offset 16
	.cfi_offset %rbx, -16
	push	%r15
	.cfi_def_cfa_offset 24
	.cfi_offset %r15, -24
	nop
	.cfi_offset %r12, -100000
	nop
	.cfi_offset %r13, 16
	nop
	.cfi_offset %rbp, 8
	nop
	.cfi_offset %xmm15, -64
	nop
	.cfi_offset 100, -72
	nop
	.cfi_offset 64, 24
	nop
	.cfi_offset %rip, -8000
	nop
	.cfi_offset %rbx, 0
	ret
	.cfi_endproc
	.size	f_offsets, .-f_offsets
