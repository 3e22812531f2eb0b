/* .cfi_rel_offset: offset relative to the current CFA register+offset */
	.text
	.globl	f_rel
	.type	f_rel, @function
f_rel:
	.cfi_startproc
	sub	$40, %rsp
	.cfi_adjust_cfa_offset 40
	mov	%rbx, 8(%rsp)
	.cfi_rel_offset %rbx, 8
	mov	%rbp, 16(%rsp)
	.cfi_rel_offset %rbp, 16
	mov	%r14, 0(%rsp)
	.cfi_rel_offset %r14, 0
	mov	%rsp, %rbp
	.cfi_def_cfa_register %rbp
	.cfi_rel_offset %r12, 24
	add	$40, %rsp
	ret
	.cfi_endproc
	.size	f_rel, .-f_rel
