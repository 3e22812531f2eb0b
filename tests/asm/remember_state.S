/* DW_CFA_remember_state / DW_CFA_restore_state, nested, restoring the CFA rule too */
	.text
	.globl	f_remember
	.type	f_remember, @function
f_remember:
	.cfi_startproc
	push	%rbp
	.cfi_def_cfa_offset 16
	.cfi_offset %rbp, -16
	mov	%rsp, %rbp
	.cfi_def_cfa_register %rbp
	push	%rbx
	.cfi_offset %rbx, -24
	test	%rdi, %rdi
	je	1f
	.cfi_remember_state
	pop	%rbx
	.cfi_restore %rbx
	pop	%rbp
	.cfi_restore %rbp
	.cfi_def_cfa %rsp, 8
	ret
1:
	.cfi_restore_state
	nop
	.cfi_remember_state
	.cfi_def_cfa %rsp, 64
	.cfi_offset %r12, -48
	nop
	.cfi_remember_state
	.cfi_escape 0x0f, 0x02, 0x77, 0x10	/* DW_CFA_def_cfa_expression: DW_OP_breg7 16 */
	.cfi_undefined %rbx
	nop
	.cfi_restore_state
	nop
	.cfi_restore_state
	nop
	pop	%rbx
	pop	%rbp
	.cfi_def_cfa %rsp, 8
	ret
	.cfi_endproc
	.size	f_remember, .-f_remember

	/* remember in one place, CFA expression, restore to a plain CFA */
	.globl	f_remember2
	.type	f_remember2, @function
f_remember2:
	.cfi_startproc
	.cfi_escape 0x0f, 0x03, 0x77, 0x08, 0x06	/* DW_CFA_def_cfa_expression: breg7 8; deref */
	nop
	.cfi_remember_state
	.cfi_def_cfa %rsp, 24
	nop
	.cfi_restore_state
	ret
	.cfi_endproc
	.size	f_remember2, .-f_remember2
