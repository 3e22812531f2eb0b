/* Hand-built .eh_frame entries with factors GNU as never writes for x86-64 (its CIE is always caf=1,
   daf=-8): code alignment factors 4 and 2 (every advance is scaled: advance_loc, advance_loc1/2/4), a
   positive data alignment factor (+8: DW_CFA_offset then means CFA+N*8, and a save below the CFA needs
   offset_extended_sf with a negative factor), data alignment -4 (offsets that are not multiples of 8),
   DW_CFA_set_loc in udata4 (absolute) and pcrel|sdata8 (0x1c) FDE pointers as LLVM's large code model
   writes them (llvm/test/MC/ELF/cfi-large-model.s, eh-frame-large-fde-encoding.s), and a version-3 CIE.
   The code is nops: only the CFI matters. */
	.text
	.globl	f_ca4
	.type	f_ca4, @function
f_ca4:	.skip	2400, 0x90
	ret
	.size	f_ca4, .-f_ca4
	.globl	f_ca2
	.type	f_ca2, @function
f_ca2:	.skip	80, 0x90
	ret
	.size	f_ca2, .-f_ca2
	.globl	f_ca2b
	.type	f_ca2b, @function
f_ca2b:	.skip	16, 0x90
	ret
	.size	f_ca2b, .-f_ca2b

	.section .eh_frame,"a",@unwind
	/* CIE 1: version 1, caf 4, daf -4, FDE pointers pcrel|sdata8 */
ca_cie1:
	.long	2f-1f
1:	.long	0
	.byte	1
	.asciz	"zR"
	.uleb128 4		/* code alignment */
	.sleb128 -4		/* data alignment */
	.byte	16		/* return address column */
	.uleb128 1
	.byte	0x1c		/* pcrel|sdata8 */
	.byte	0x0c, 7, 8	/* def_cfa rsp+8 */
	.byte	0x90, 2		/* offset rip, 2 -> cfa-8 */
	.balign	8, 0
2:
	.long	4f-3f
3:	.long	3b-ca_cie1
	.quad	f_ca4-.
	.quad	2401
	.uleb128 0
	.byte	0x41		/* advance_loc 1 -> +4 */
	.byte	0x0e, 16	/* def_cfa_offset 16 */
	.byte	0x83, 4		/* offset rbx, 4 -> cfa-16 */
	.byte	0x7f		/* advance_loc 63 -> +252 */
	.byte	0x86, 5		/* offset rbp, 5 -> cfa-20 (not a multiple of 8) */
	.byte	0x02, 0x40	/* advance_loc1 64 -> +256 */
	.byte	0x12, 6, 0x7c	/* def_cfa_sf rbp, -4 -> rbp+16 */
	.byte	0x03, 0x2c, 0x01	/* advance_loc2 300 -> +1200 */
	.byte	0x11, 12, 0x7a	/* offset_extended_sf r12, -6 -> cfa+24 */
	.byte	0x04, 0x0a, 0, 0, 0	/* advance_loc4 10 -> +40 */
	.byte	0xc3		/* restore rbx */
	.byte	0x14, 13, 3	/* val_offset r13, 3 -> cfa-12 */
	.byte	0x41		/* advance_loc 1 -> +4 */
	.byte	0x0c, 7, 8	/* def_cfa rsp+8 */
	.balign	8, 0
4:
	/* CIE 2: version 3 (ULEB128 return column), caf 2, daf +8, FDE pointers udata4 (absolute) */
ca_cie2:
	.long	6f-5f
5:	.long	0
	.byte	3
	.asciz	"zR"
	.uleb128 2
	.sleb128 8
	.uleb128 16
	.uleb128 1
	.byte	0x03
	.byte	0x0c, 7, 8		/* def_cfa rsp+8 */
	.byte	0x11, 16, 0x7f		/* offset_extended_sf rip, -1 -> cfa-8 */
	.balign	4, 0
6:
	.long	8f-7f
7:	.long	7b-ca_cie2
	.long	f_ca2
	.long	81
	.uleb128 0
	.byte	0x42			/* advance_loc 2 -> +4 */
	.byte	0x0e, 16		/* def_cfa_offset 16 */
	.byte	0x11, 3, 0x7e		/* offset_extended_sf rbx, -2 -> cfa-16 */
	.byte	0x01			/* set_loc f_ca2+20 (udata4, absolute) */
	.long	f_ca2+20
	.byte	0x83, 1			/* offset rbx, 1 -> cfa+8 (positive factor) */
	.byte	0x05, 6, 0x7e		/* offset_extended rbp, 0x7e -> cfa+1008 */
	.byte	0x01			/* set_loc f_ca2+64 */
	.long	f_ca2+64
	.byte	0x13, 0x7d		/* def_cfa_offset_sf -3 -> x daf +8 = -24 */
	.byte	0x15, 12, 0x7f		/* val_offset_sf r12, -1 -> cfa-8 */
	.byte	0x02, 5			/* advance_loc1 5 -> +10 */
	.byte	0x0c, 7, 8
	.byte	0xc3, 0xc6		/* restore rbx, rbp */
	.balign	4, 0
8:
	/* a second FDE on CIE 2 whose first instruction is a set_loc to its own start */
	.long	10f-9f
9:	.long	9b-ca_cie2
	.long	f_ca2b
	.long	17
	.uleb128 0
	.byte	0x01
	.long	f_ca2b
	.byte	0x0e, 32
	.byte	0x47			/* advance_loc 7 -> +14 */
	.byte	0x0e, 8
	.balign	4, 0
10:
