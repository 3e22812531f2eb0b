/* DW_CFA_expression (0x10), DW_CFA_val_expression (0x16), DW_CFA_def_cfa_expression (0x0f) */
	.text
	.globl	f_expr
	.type	f_expr, @function
f_expr:
	.cfi_startproc
	nop
	/* DW_CFA_expression rbx: DW_OP_breg7 (rsp) +8, DW_OP_deref */
	.cfi_escape 0x10, 0x03, 0x03, 0x77, 0x08, 0x06
	nop
	/* DW_CFA_val_expression rbp: DW_OP_breg7 -16 */
	.cfi_escape 0x16, 0x06, 0x02, 0x77, 0x70
	nop
	/* DW_CFA_def_cfa_expression: DW_OP_breg7 +8, DW_OP_breg16 +0, DW_OP_lit15, DW_OP_and,
	   DW_OP_lit11, DW_OP_ge, DW_OP_lit3, DW_OP_shl, DW_OP_plus   (the PLT idiom) */
	.cfi_escape 0x0f, 0x0b, 0x77, 0x08, 0x80, 0x00, 0x3f, 0x1a, 0x3b, 0x2a, 0x33, 0x24, 0x22
	nop
	/* DW_CFA_expression r12: DW_OP_bregx 6 (rbp) -24 */
	.cfi_escape 0x10, 0x0c, 0x03, 0x92, 0x06, 0x68
	nop
	/* DW_CFA_val_expression rip: DW_OP_breg7 0, DW_OP_deref, DW_OP_plus_uconst 8 */
	.cfi_escape 0x16, 0x10, 0x05, 0x77, 0x00, 0x06, 0x23, 0x08
	nop
	/* DW_CFA_def_cfa_expression: DW_OP_breg6 +16, DW_OP_const1u 8, DW_OP_minus, DW_OP_deref */
	.cfi_escape 0x0f, 0x06, 0x76, 0x10, 0x08, 0x08, 0x1c, 0x06
	nop
	/* back to a plain CFA */
	.cfi_def_cfa %rsp, 8
	nop
	/* DW_CFA_expression r13: DW_OP_const4s -1, DW_OP_reg3 ... keep it simple: DW_OP_breg13 0 */
	.cfi_escape 0x10, 0x0d, 0x02, 0x7d, 0x00
	ret
	.cfi_endproc
	.size	f_expr, .-f_expr
