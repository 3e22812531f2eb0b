/* DW_CFA_GNU_args_size (0x2e), DW_CFA_nop (0x00) */
	.text
	.globl	f_args
	.type	f_args, @function
f_args:
	.cfi_startproc
	push	%rbp
	.cfi_def_cfa_offset 16
	.cfi_offset %rbp, -16
	nop
	.cfi_escape 0x2e, 0x10		/* DW_CFA_GNU_args_size 16 */
	nop
	.cfi_escape 0x2e, 0x00		/* DW_CFA_GNU_args_size 0 */
	nop
	.cfi_escape 0x2e, 0x80, 0x01	/* DW_CFA_GNU_args_size 128 */
	nop
	.cfi_escape 0x00, 0x00		/* DW_CFA_nop x2 in the middle */
	.cfi_def_cfa_offset 8
	ret
	.cfi_endproc
	.size	f_args, .-f_args

	/* an FDE whose only instruction is GNU_args_size: readelf prints it */
	.globl	f_args_only
	.type	f_args_only, @function
f_args_only:
	.cfi_startproc
	.cfi_escape 0x2e, 0x08
	ret
	.cfi_endproc
	.size	f_args_only, .-f_args_only
