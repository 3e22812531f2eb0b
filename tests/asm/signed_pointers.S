/* Pointer encodings outside the LSB table, as LLVM's MC tests write them and readelf decodes them:
   FDE pointers 0x18 (pcrel | signed absptr), personality 0x88 and 0x98 (indirect | [pcrel |] signed). */
	.text
sp1:	nop
	ret
sp2:	nop
	nop
	ret
	.section .eh_frame,"a",@unwind
cie1:	.long 2f-1f
1:	.long 0
	.byte 1
	.asciz "zPR"
	.uleb128 1
	.sleb128 -8
	.uleb128 16
	.uleb128 10
	.byte 0x88
	.quad sp1
	.byte 0x18
	.byte 0x0c, 7, 8
	.byte 0x90, 1
	.balign 8
2:
fde1:	.long 4f-3f
3:	.long 3b-cie1
	.quad sp1-.
	.quad 2
	.uleb128 0
	.byte 0x41, 0x0e, 16
	.balign 8
4:
cie2:	.long 6f-5f
5:	.long 0
	.byte 1
	.asciz "zPR"
	.uleb128 1
	.sleb128 -8
	.uleb128 16
	.uleb128 10
	.byte 0x98
	.quad sp2-.
	.byte 0x18
	.byte 0x0c, 7, 8
	.byte 0x90, 1
	.balign 8
6:
fde2:	.long 8f-7f
7:	.long 7b-cie2
	.quad sp2-.
	.quad 3
	.uleb128 0
	.byte 0x41, 0x0e, 24, 0x41, 0x0e, 8
	.balign 8
8:
	.long 0
