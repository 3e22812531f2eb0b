/* .cfi_signal_frame: 'S' in the CIE augmentation; plus a normal FDE next to it */
	.text
	.globl	f_sigreturn
	.type	f_sigreturn, @function
	nop
f_sigreturn:
	.cfi_startproc
	.cfi_signal_frame
	.cfi_def_cfa %rsp, 160
	.cfi_offset %r8, 40
	.cfi_offset %rip, 168
	.cfi_offset %rsp, 160
	mov	$15, %rax
	syscall
	.cfi_endproc
	.size	f_sigreturn, .-f_sigreturn

	.globl	f_normal
	.type	f_normal, @function
f_normal:
	.cfi_startproc
	ret
	.cfi_endproc
	.size	f_normal, .-f_normal
