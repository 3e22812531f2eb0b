/* Spec-invalid sequences libgcc, gdb and readelf all accept: def_cfa_offset and def_cfa_offset_sf after
   def_cfa_expression keep the expression and record the offset (libgcc: "cfa_how deliberately not set");
   a later def_cfa_register makes register + that offset. */
	.text
	.globl	f_cfa_expr_offset
	.type	f_cfa_expr_offset, @function
f_cfa_expr_offset:
	.cfi_startproc
	.cfi_escape 0x0f, 0x03, 0x77, 0x08, 0x06	/* DW_CFA_def_cfa_expression: breg7 8; deref */
	nop
	.cfi_def_cfa_offset 32
	nop
	.cfi_escape 0x13, 0x7e	/* DW_CFA_def_cfa_offset_sf -2 (x df -8 = 16) */
	nop
	.cfi_def_cfa_register %rbp
	nop
	.cfi_escape 0x0f, 0x02, 0x76, 0x10	/* DW_CFA_def_cfa_expression: breg6 16 */
	nop
	.cfi_escape 0x0d, 0x03	/* DW_CFA_def_cfa_register rbx, straight after an expression */
	ret
	.cfi_endproc
	.size	f_cfa_expr_offset, .-f_cfa_expr_offset
