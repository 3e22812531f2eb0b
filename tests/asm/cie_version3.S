/* CIE version 3 from GNU as (--gdwarf-cie-version=3; gas/testsuite/gas/cfi/cie-version-3.d), in
   .eh_frame and .debug_frame: the return-address column is a ULEB128 instead of a byte (cie_version4.S:
   version 4).  Assembled with the flags in
   test_cfi_asm.AS_FLAGS.  A return column of 127 or more (a 2-byte ULEB128, the point of version 3) cannot
   be checked: readelf 2.40 accepts x86-64 columns up to 126 only, rejects a CIE whose return column
   is higher and then prints no entry of the section at all (docs/oracle-bugs.md); 125 (k7, its last named
   column) is used here. */
	.cfi_sections .eh_frame, .debug_frame
	.text
	.globl	f_cv1
	.type	f_cv1, @function
f_cv1:
	.cfi_startproc
	push	%rbp
	.cfi_def_cfa_offset 16
	.cfi_offset %rbp, -16
	mov	%rsp, %rbp
	.cfi_def_cfa_register %rbp
	pop	%rbp
	.cfi_def_cfa %rsp, 8
	ret
	.cfi_endproc
	.size	f_cv1, .-f_cv1

	.globl	f_cv2
	.type	f_cv2, @function
f_cv2:
	.cfi_startproc
	.cfi_return_column 125
	.cfi_offset 125, -8
	nop
	.cfi_register 125, %r11
	nop
	.cfi_undefined %rip
	ret
	.cfi_endproc
	.size	f_cv2, .-f_cv2
