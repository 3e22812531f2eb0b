/* Every register name GNU as knows for x86-64 CFI (after gas/testsuite/gas/cfi/cfi-x86_64.s, whose
   func_all_registers marks each one undefined): general registers, rflags, segment registers, fs.base,
   gs.base, tr, ldtr, mxcsr, fcw, fsw, st(N), mmN, xmm0-31 and k0-7, i.e. DWARF columns 0..125 and the
   readelf names of all of them.  Rules of three kinds (undefined, same value, offset) spread over the
   columns so that each name shows up in a header.  gas 2.40 refuses the ymmN names the upstream file
   also lists ("bad register expression"), so they are not here; columns above 126 are left out because
   readelf 2.40 has no name for them and drops them ("bad register"; docs/oracle-bugs.md). */
	.text
	.globl	f_all_regs
	.type	f_all_regs, @function
f_all_regs:
	.cfi_startproc simple
	.cfi_def_cfa %rsp, 8
	.cfi_offset %rip, -8
	.cfi_undefined %rax
	nop
	.cfi_same_value %rcx
	.cfi_offset %rdx, -16
	.cfi_undefined %rbx
	nop
	.cfi_undefined %rsp
	.cfi_same_value %rbp
	.cfi_offset %rsi, -24
	.cfi_undefined %rdi
	nop
	.irp r, r8, r9, r10, r11, r12, r13, r14, r15
	.cfi_undefined %\r
	.endr
	nop
	.cfi_same_value %rflags
	.cfi_undefined %es
	.cfi_offset %cs, -32
	.cfi_undefined %ss
	.cfi_same_value %ds
	.cfi_undefined %fs
	.cfi_undefined %gs
	nop
	.cfi_offset %fs.base, -40
	.cfi_offset %gs.base, -48
	.cfi_undefined %tr
	.cfi_same_value %ldtr
	nop
	.cfi_offset %mxcsr, -56
	.cfi_undefined %fcw
	.cfi_same_value %fsw
	nop
	.irp n, 0, 1, 2, 3, 4, 5, 6, 7
	.cfi_undefined %st(\n)
	.cfi_same_value %mm\n
	.cfi_offset %k\n, -64-8*\n
	.endr
	nop
	.irp n, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15
	.cfi_undefined %xmm\n
	.endr
	nop
	.irp n, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31
	.cfi_same_value %xmm\n
	.endr
	nop
	/* and back: restore every column the CIE defines nothing for (-> no rule) */
	.irp r, rax, rcx, rdx, rbx, rsp, rbp, rsi, rdi, fs.base, mxcsr, xmm31, k7
	.cfi_restore %\r
	.endr
	ret
	.cfi_endproc
	.size	f_all_regs, .-f_all_regs

	/* cfi-x86_64.s func_alldirectives: every directive once, after .cfi_startproc simple */
	.globl	f_all_directives
	.type	f_all_directives, @function
f_all_directives:
	.cfi_startproc simple
	.cfi_def_cfa	%rsp, 8
	nop
	.cfi_def_cfa_offset	16
	nop
	.cfi_def_cfa_register	%r8
	nop
	.cfi_adjust_cfa_offset	0x1234
	nop
	.cfi_offset	%rsi, 0x10
	nop
	.cfi_register	%r8, %r9
	nop
	.cfi_remember_state
	nop
	.cfi_restore	%rbp
	nop
	.cfi_undefined	%rip
	nop
	.cfi_same_value	%rbx
	nop
	.cfi_restore_state
	ret
	.cfi_endproc
	.size	f_all_directives, .-f_all_directives

	/* cfi-x86_64.s func_otherreg: the CFA moves to r8 while rsp changes freely */
	.globl	f_otherreg
	.type	f_otherreg, @function
f_otherreg:
	.cfi_startproc
	movq	%rsp, %r8
	.cfi_def_cfa_register	%r8
	sub	$100, %rsp
	nop
	movq	%r8, %rsp
	.cfi_def_cfa_register	%rsp
	ret
	.cfi_endproc
	.size	f_otherreg, .-f_otherreg
