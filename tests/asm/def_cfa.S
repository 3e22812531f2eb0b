/* DW_CFA_def_cfa, def_cfa_register, def_cfa_offset (+ .cfi_adjust_cfa_offset) */
	.text
	.globl	f_def_cfa
	.type	f_def_cfa, @function
f_def_cfa:
	.cfi_startproc
	push	%rbp
	.cfi_def_cfa_offset 16
	.cfi_offset %rbp, -16
	mov	%rsp, %rbp
	.cfi_def_cfa_register %rbp
	sub	$32, %rsp
	nop
	.cfi_def_cfa %rsp, 48
	nop
	.cfi_adjust_cfa_offset 8
	nop
	.cfi_adjust_cfa_offset -24
	nop
	.cfi_def_cfa %r11, 0
	nop
	.cfi_def_cfa %rbx, 200000
	nop
	.cfi_def_cfa_offset 300
	nop
	.cfi_def_cfa %rsp, 8
	ret
	.cfi_endproc
	.size	f_def_cfa, .-f_def_cfa

	/* .cfi_startproc simple: a CIE without initial instructions */
	.globl	f_simple
	.type	f_simple, @function
f_simple:
	.cfi_startproc simple
	.cfi_def_cfa %rsp, 8
	.cfi_offset %rip, -8
	nop
	.cfi_def_cfa_offset 16
	ret
	.cfi_endproc
	.size	f_simple, .-f_simple

	/* an FDE without instructions: one row, the CIE's initial rules */
	.globl	f_empty
	.type	f_empty, @function
f_empty:
	.cfi_startproc
	ret
	.cfi_endproc
	.size	f_empty, .-f_empty
