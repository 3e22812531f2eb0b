/* CIE version 4 from GNU as (--gdwarf-cie-version=4; gas/testsuite/gas/cfi/cie-version-4.d): address_size (8)
   and segment_selector_size (0) follow the augmentation string, before the alignment factors, in
   .debug_frame and, since gas writes the same version there, in .eh_frame too (the LSB names only versions
   1 and 3 for .eh_frame; libgcc's extract_cie_info reads version 4 and checks both sizes).  The augmentation
   data of an LSDA and a signal frame ("zLRS") comes after those fields.  No personality: GNU ld 2.40 fails
   an assertion (bfd/elf-eh-frame.c:2062) and exits 1 when a version-4 CIE has one, so that case cannot be
   linked here.  Assembled with the flags in test_cfi_asm.AS_FLAGS. */
	.cfi_sections .eh_frame, .debug_frame
	.text
	.globl	f_cv4
	.type	f_cv4, @function
f_cv4:
	.cfi_startproc
	.cfi_lsda 0x1b, cv4_lsda
	push	%rbx
	.cfi_def_cfa_offset 16
	.cfi_offset %rbx, -16
	.cfi_remember_state
	pop	%rbx
	.cfi_def_cfa_offset 8
	.cfi_restore %rbx
	ret
	.cfi_restore_state
	nop
	.cfi_return_column %rax
	ret
	.cfi_endproc
	.size	f_cv4, .-f_cv4

	.globl	f_cv4_sig
	.type	f_cv4_sig, @function
	nop
f_cv4_sig:
	.cfi_startproc
	.cfi_signal_frame
	.cfi_lsda 0x1b, cv4_lsda
	.cfi_def_cfa %rsp, 160
	.cfi_offset %rip, 168
	nop
	.cfi_escape 0x16, 0x07, 0x02, 0x77, 0x70	/* DW_CFA_val_expression rsp: DW_OP_breg7 -16 */
	ret
	.cfi_endproc
	.size	f_cv4_sig, .-f_cv4_sig

	.section .rodata
cv4_lsda:
	.quad	0
