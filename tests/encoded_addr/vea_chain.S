/* A chain of functions whose CFI uses .cfi_val_encoded_addr (DW_CFA_val_expression with DW_OP_addr or
   DW_OP_GNU_encoded_addr), for tests/test_encoded_addr.py.  vea_main.c calls vea_a; each function sets
   the caller's value of one register to a label's address and calls the next; the last calls vea_probe,
   which prints libgcc's view of every frame (_Unwind_Backtrace) and aborts.

   The personality (never called: nothing is thrown) only makes these CIEs unlike gcc's: ld drops a CIE
   equal to an earlier one and moves the FDEs after it, but it does not move the pc of a pcrel
   relocation inside the CFA instructions, so every pcrel value would then be off by the CIE's size
   (binutils 2.40; readelf and libgcc both read the shifted value: docs/oracle-bugs.md). */
	.text
	.macro VEAFN name, next, reg, enc, target
	.globl \name
	.type \name, @function
\name:
	.cfi_startproc
	.cfi_personality 0x1b, vea_personality
	.cfi_val_encoded_addr \reg, \enc, \target
	sub $8, %rsp
	.cfi_adjust_cfa_offset 8
	call \next
	add $8, %rsp
	.cfi_adjust_cfa_offset -8
	ret
	.cfi_endproc
	.size \name, .-\name
	.endm

	VEAFN vea_a, vea_b, %rbx, 0x1b, vea_label_a	/* pcrel|sdata4: rbx in main */
#ifdef VEA_PIE
	VEAFN vea_b, vea_c, %r12, 0x04, vea_label_b	/* udata8 (a 4-byte absolute cannot be linked into a PIE) */
#else
	VEAFN vea_b, vea_c, %r12, 0x03, vea_label_b	/* udata4: r12 in vea_a */
#endif
	VEAFN vea_c, vea_d, %r13, 0, vea_label_c	/* absptr: DW_OP_addr, r13 in vea_b */
	VEAFN vea_d, vea_e, %r14, 0x9b, vea_slot	/* indirect|pcrel|sdata4: r14 = *vea_slot in vea_c */
	VEAFN vea_e, vea_probe, %r15, 0x1c, vea_label_e	/* pcrel|sdata8: r15 in vea_d */

/* Truncated: DW_OP_GNU_encoded_addr pcrel|sdata4 without its pointer. */
	.globl vea_bad
	.type vea_bad, @function
vea_bad:
	.cfi_startproc
	.cfi_escape 0x16, 0x03, 0x02, 0xf1, 0x1b
	sub $8, %rsp
	.cfi_adjust_cfa_offset 8
	call abort
	.cfi_endproc
	.size vea_bad, .-vea_bad

	.globl vea_label_a, vea_label_b, vea_label_c, vea_label_d, vea_label_e
vea_label_a: nop
vea_label_b: nop
vea_label_c: nop
vea_label_d: nop
vea_label_e: nop
vea_personality: ret
	.section .note.GNU-stack,"",@progbits
