/* DW_CFA_register */
	.text
	.globl	f_register
	.type	f_register, @function
f_register:
	.cfi_startproc
	mov	%rbx, %r10
	.cfi_register %rbx, %r10
	pop	%r11
	.cfi_adjust_cfa_offset -8
	.cfi_register %rip, %r11
	mov	%rbp, %rax
	.cfi_register %rbp, %rax
	nop
	.cfi_register %r12, %xmm3
	nop
	.cfi_register %r13, %rip
	nop
	.cfi_register 70, %rdx
	jmp	*%r11
	.cfi_endproc
	.size	f_register, .-f_register
