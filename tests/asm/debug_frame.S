/* .cfi_sections .debug_frame only (CIE id 0xffffffff, absolute FDE addresses) */
	.cfi_sections .debug_frame
	.text
	.globl	f_dbg
	.type	f_dbg, @function
f_dbg:
	.cfi_startproc
	push	%rbx
	.cfi_def_cfa_offset 16
	.cfi_offset %rbx, -16
	nop
	.cfi_remember_state
	pop	%rbx
	.cfi_def_cfa_offset 8
	.cfi_restore %rbx
	ret
	.cfi_restore_state
	nop
	.cfi_offset 70, -24
	.cfi_register %rbp, %rdx
	pop	%rbx
	.cfi_def_cfa_offset 8
	ret
	.cfi_endproc
	.size	f_dbg, .-f_dbg

	.globl	f_dbg2
	.type	f_dbg2, @function
f_dbg2:
	.cfi_startproc
	.cfi_signal_frame
	.cfi_escape 0x10, 0x03, 0x02, 0x77, 0x08
	ret
	.cfi_endproc
	.size	f_dbg2, .-f_dbg2
