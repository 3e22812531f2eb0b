/* Large and negative operands: multi-byte (S)LEB128 of up to 10 bytes, offsets beyond 32 bits and the
   _sf forms gas picks for negative CFA offsets.  After gas/testsuite/gas/cfi/cfi-common-10 (a CFA offset
   of 2^40+32), cfi-x86_64.s func_locvars (.cfi_adjust_cfa_offset 0x1234) and cfi-diag-1.

   Left out, with reasons:
   - CFA offsets outside the signed 32-bit range (cfi-common-10's 1099511627808): readelf 2.40 keeps the
     CFA offset in an int and prints rsp+32 for it (even its raw dump says "DW_CFA_def_cfa_offset: 32"),
     while gas emits the full ULEB128 (0e a0 80 80 80 80 20) and libgcc reads a full word; newer binutils
     print 1099511627808 (the upstream test expects it).  Our rows keep the whole value; readelf cannot
     judge them, so the CFA offsets here stay within int32 (docs/oracle-bugs.md).
   - cfi-diag-1 (.cfi_offset with an offset that is not a multiple of the data alignment): gas refuses it
     ("register save offset not a multiple of 8"), so there is nothing to decode. */
	.text
	.globl	f_big
	.type	f_big, @function
f_big:
	.cfi_startproc
	sub	$0x1234, %rsp
	.cfi_adjust_cfa_offset 0x1234
	nop
	.cfi_def_cfa_offset 0x7ffffff8		/* 5-byte ULEB128, the largest positive int32 multiple of 8 */
	nop
	.cfi_def_cfa %rbp, 0x10000		/* 3-byte ULEB128 */
	nop
	.cfi_def_cfa %rsp, -8			/* negative: DW_CFA_def_cfa_sf */
	nop
	.cfi_def_cfa_offset -0x7ffffff8		/* DW_CFA_def_cfa_offset_sf with a 5-byte SLEB128 */
	nop
	.cfi_adjust_cfa_offset 0x7ffffff0	/* back to -8 */
	nop
	.cfi_def_cfa %rsp, 16
	.cfi_offset %rbx, 0x800000000		/* +2^35: DW_CFA_offset_extended_sf, 6-byte SLEB128 */
	nop
	.cfi_offset %rbp, -0x800000000		/* -2^35: DW_CFA_offset with a 5-byte ULEB128 factor */
	nop
	.cfi_val_offset %r12, 0x123456780	/* DW_CFA_val_offset_sf, > 32 bits */
	nop
	.cfi_val_offset %r13, -0x123456780	/* DW_CFA_val_offset, > 32 bits */
	nop
	.cfi_offset %r14, -0x7ffffffffffffff8	/* the most negative multiple of 8 (10-byte ULEB128) */
	nop
	.cfi_offset %r15, 0x7ffffffffffffff8	/* the most positive one (10-byte SLEB128) */
	nop
	.cfi_rel_offset %rip, 0x7ffffff0	/* rel_offset adds the current CFA offset (16) */
	nop
	.cfi_escape 0x10, 0x03, 0x0a, 0x77, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01
	/* DW_CFA_expression rbx: DW_OP_breg7 with a 9-byte SLEB128 (2^56) */
	add	$0x1234, %rsp
	.cfi_def_cfa %rsp, 8
	ret
	.cfi_endproc
	.size	f_big, .-f_big
