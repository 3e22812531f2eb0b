/* DW_CFA_undefined, DW_CFA_same_value (also on columns the CIE defines) */
	.text
	.globl	f_undef
	.type	f_undef, @function
f_undef:
	.cfi_startproc
	nop
	.cfi_same_value %rbx
	nop
	.cfi_offset %rbx, -16
	nop
	.cfi_same_value %rbx
	.cfi_undefined %r12
	nop
	.cfi_undefined %rip
	nop
	.cfi_same_value %rip
	nop
	.cfi_undefined 90
	ret
	.cfi_endproc
	.size	f_undef, .-f_undef

	/* outermost frame: return address undefined from the start */
	.globl	f_start
	.type	f_start, @function
f_start:
	.cfi_startproc
	.cfi_undefined %rip
	xor	%ebp, %ebp
	.cfi_same_value %rbp
	hlt
	.cfi_endproc
	.size	f_start, .-f_start
