/* Several CIEs in one section, chosen by what each FDE asks for, and FDEs that share them (after
   gas/testsuite/gas/cfi/cfi-common-6.s): personality + LSDA with the LSDA an absolute constant in sdata8
   (0x0c), the same pair again (gas reuses the CIE), ".cfi_personality 0xff" cancelling an earlier
   personality (DW_EH_PE_omit: back to the plain CIE, but the LSDA stays), pcrel|sdata4 (0x1b) pairs;
   plus a signal frame with a personality ("zPLRS" order of augmentation data) and a .cfi_return_column
   next to a personality.  The same FDEs are written to .debug_frame too, where gas drops the
   augmentation (CIE "" or "S"): the rows must not change. */
	.cfi_sections .eh_frame, .debug_frame
	.text
	.globl	cs_pers0
	.type	cs_pers0, @function
cs_pers0:
	ret
cs_pers1:
	ret
	.section .rodata
	.balign 4
cs_lsda1: .long 0
cs_lsda2: .long 0
	.text

	.globl	f_cs1
	.type	f_cs1, @function
f_cs1:
	.cfi_startproc
	.cfi_personality 0x03, cs_pers0
	.cfi_lsda 0x0c, 0xdeadbeef
	push	%rbx
	.cfi_adjust_cfa_offset 8
	.cfi_offset %rbx, -16
	pop	%rbx
	.cfi_adjust_cfa_offset -8
	ret
	.cfi_endproc
	.size	f_cs1, .-f_cs1

	/* same personality and LSDA encoding: shares f_cs1's CIE */
	.globl	f_cs2
	.type	f_cs2, @function
f_cs2:
	.cfi_startproc
	.cfi_personality 0x03, cs_pers0
	.cfi_lsda 0x0c, 0xbeefdead
	nop
	.cfi_def_cfa_offset 24
	ret
	.cfi_endproc
	.size	f_cs2, .-f_cs2

	/* personality set, then cancelled with 0xff (omit): "zLR" */
	.globl	f_cs3
	.type	f_cs3, @function
f_cs3:
	.cfi_startproc
	.cfi_personality 0x03, cs_pers0
	.cfi_lsda 0x0c, 0xdeadbeef
	.cfi_personality 0xff
	nop
	.cfi_def_cfa_offset 32
	.cfi_offset %rbp, -32
	ret
	.cfi_endproc
	.size	f_cs3, .-f_cs3

	/* pcrel|sdata4 personality and LSDA, two FDEs on one CIE */
	.globl	f_cs4
	.type	f_cs4, @function
f_cs4:
	.cfi_startproc
	.cfi_personality 0x1b, cs_pers1
	.cfi_lsda 0x1b, cs_lsda1
	nop
	.cfi_def_cfa %rbp, 16
	ret
	.cfi_endproc
	.size	f_cs4, .-f_cs4

	.globl	f_cs5
	.type	f_cs5, @function
f_cs5:
	.cfi_startproc
	.cfi_personality 0x1b, cs_pers1
	.cfi_lsda 0x1b, cs_lsda2
	nop
	.cfi_undefined %rip
	ret
	.cfi_endproc
	.size	f_cs5, .-f_cs5

	/* signal frame with personality and LSDA: augmentation "zPLRS" */
	.globl	f_cs6
	.type	f_cs6, @function
	nop
f_cs6:
	.cfi_startproc
	.cfi_signal_frame
	.cfi_personality 0x1b, cs_pers1
	.cfi_lsda 0x1b, cs_lsda1
	.cfi_def_cfa %rsp, 160
	.cfi_offset %rip, 168
	nop
	ret
	.cfi_endproc
	.size	f_cs6, .-f_cs6

	/* return column 0 with a personality: one more CIE */
	.globl	f_cs7
	.type	f_cs7, @function
f_cs7:
	.cfi_startproc
	.cfi_personality 0x03, cs_pers0
	.cfi_return_column %rax
	.cfi_offset %rax, -8
	nop
	.cfi_def_cfa_offset 16
	ret
	.cfi_endproc
	.size	f_cs7, .-f_cs7

	/* and a plain FDE after all of them, on the plain CIE */
	.globl	f_cs8
	.type	f_cs8, @function
f_cs8:
	.cfi_startproc
	nop
	.cfi_def_cfa_offset 16
	ret
	.cfi_endproc
	.size	f_cs8, .-f_cs8
