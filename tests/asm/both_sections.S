/* .cfi_sections .eh_frame, .debug_frame: the same rules in both sections */
	.cfi_sections .eh_frame, .debug_frame
	.text
	.globl	f_both
	.type	f_both, @function
f_both:
	.cfi_startproc
	push	%rbp
	.cfi_def_cfa_offset 16
	.cfi_offset %rbp, -16
	mov	%rsp, %rbp
	.cfi_def_cfa_register %rbp
	push	%r12
	.cfi_offset %r12, -24
	nop
	.cfi_escape 0x16, 0x0d, 0x02, 0x76, 0x60
	pop	%r12
	pop	%rbp
	.cfi_def_cfa %rsp, 8
	ret
	.cfi_endproc
	.size	f_both, .-f_both
