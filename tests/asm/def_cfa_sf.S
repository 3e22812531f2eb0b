/* DW_CFA_def_cfa_sf (0x12), DW_CFA_def_cfa_offset_sf (0x13): offsets factored by data_align */
	.text
	.globl	f_cfa_sf
	.type	f_cfa_sf, @function
f_cfa_sf:
	.cfi_startproc
	nop
	.cfi_escape 0x12, 0x06, 0x7e	/* DW_CFA_def_cfa_sf rbp, -2  -> rbp+16 */
	nop
	.cfi_escape 0x13, 0x7c		/* DW_CFA_def_cfa_offset_sf -4 -> +32 */
	nop
	.cfi_escape 0x12, 0x07, 0x01	/* DW_CFA_def_cfa_sf rsp, 1 -> rsp-8 */
	nop
	.cfi_escape 0x13, 0x7f		/* DW_CFA_def_cfa_offset_sf -1 -> +8 */
	ret
	.cfi_endproc
	.size	f_cfa_sf, .-f_cfa_sf
