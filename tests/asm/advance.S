/* DW_CFA_advance_loc (<64), advance_loc1 (<256), advance_loc2 (<65536), advance_loc4 */
	.text
	.globl	f_advance
	.type	f_advance, @function
f_advance:
	.cfi_startproc
	push	%rbx
	.cfi_adjust_cfa_offset 8
	.skip	60, 0x90
	.cfi_adjust_cfa_offset 8
	.skip	63, 0x90
	.cfi_adjust_cfa_offset 8
	.skip	64, 0x90
	.cfi_adjust_cfa_offset 8
	.skip	200, 0x90
	.cfi_adjust_cfa_offset 8
	.skip	255, 0x90
	.cfi_adjust_cfa_offset 8
	.skip	256, 0x90
	.cfi_adjust_cfa_offset 8
	.skip	4000, 0x90
	.cfi_adjust_cfa_offset 8
	.skip	65535, 0x90
	.cfi_adjust_cfa_offset 8
	.skip	65536, 0x90
	.cfi_adjust_cfa_offset 8
	.skip	100000, 0x90
	.cfi_adjust_cfa_offset -80
	ret
	.cfi_endproc
	.size	f_advance, .-f_advance
