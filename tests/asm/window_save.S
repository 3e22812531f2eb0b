/* DW_CFA_GNU_window_save (0x2d; .cfi_window_save, which gas accepts on x86-64 too), a SPARC register-window
   opcode that AArch64 reuses as DW_CFA_AARCH64_negate_ra_state (gas/testsuite/gas/cfi/cfi-sparc-1.s,
   llvm/test/MC/ELF/cfi-window-save.s).  On x86-64 it changes no rule: readelf's rows go on unchanged, and
   libgcc's unwind-dw2.c does nothing either (its SPARC branch needs DWARF_FRAME_REGISTERS >= 32; x86-64
   has 17).  libunwind's Gparser.c, by contrast, fails with "Unexpected CFA opcode" outside SPARC; we follow
   readelf and libgcc. */
	.text
	.globl	f_window
	.type	f_window, @function
f_window:
	.cfi_startproc
	push	%rbx
	.cfi_def_cfa_offset 16
	.cfi_offset %rbx, -16
	.cfi_window_save
	nop
	.cfi_escape 0x2d		/* the same opcode, raw */
	nop
	.cfi_window_save
	.cfi_def_cfa_offset 24
	pop	%rbx
	.cfi_def_cfa_offset 8
	.cfi_restore %rbx
	ret
	.cfi_endproc
	.size	f_window, .-f_window
