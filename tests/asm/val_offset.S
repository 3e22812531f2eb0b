/* DW_CFA_val_offset (0x14), DW_CFA_val_offset_sf (0x15) and .cfi_val_offset */
	.text
	.globl	f_val
	.type	f_val, @function
f_val:
	.cfi_startproc
	nop
	.cfi_escape 0x14, 0x07, 0x00	/* DW_CFA_val_offset rsp, 0 */
	nop
	.cfi_escape 0x14, 0x03, 0x02	/* DW_CFA_val_offset rbx, 2 (factored by df=-8) */
	nop
	.cfi_escape 0x15, 0x06, 0x7e	/* DW_CFA_val_offset_sf rbp, -2 */
	nop
	.cfi_escape 0x15, 0x0c, 0x02	/* DW_CFA_val_offset_sf r12, 2 */
	nop
	.cfi_val_offset %r13, -48
	nop
	.cfi_val_offset %r14, 32
	ret
	.cfi_endproc
	.size	f_val, .-f_val
