// Functions that each start with one instruction form, for
// bench/emulation.mjs: a uprobe on each first instruction shows whether the
// kernel emulates that form (one trap) or single-steps it (two traps).

#include "textflag.h"

// nop (90)
TEXT ·nop1(SB), NOSPLIT, $0-0
	BYTE $0x90
	RET

// xchg ax, ax (66 90)
TEXT ·nop2(SB), NOSPLIT, $0-0
	BYTE $0x66; BYTE $0x90
	RET

// nopl (rax) (0f 1f 00)
TEXT ·nop3(SB), NOSPLIT, $0-0
	BYTE $0x0f; BYTE $0x1f; BYTE $0x00
	RET

// nopl 0(rax,rax,1) (0f 1f 44 00 00): the 5-byte nop
TEXT ·nop5(SB), NOSPLIT, $0-0
	BYTE $0x0f; BYTE $0x1f; BYTE $0x44; BYTE $0x00; BYTE $0x00
	RET

// nopw 0(rax,rax,1) (66 0f 1f 44 00 00)
TEXT ·nop6(SB), NOSPLIT, $0-0
	BYTE $0x66; BYTE $0x0f; BYTE $0x1f; BYTE $0x44; BYTE $0x00; BYTE $0x00
	RET

// push rbp (55), as Go 1.21+ frames start
TEXT ·pushbp(SB), NOSPLIT, $0-0
	BYTE $0x55
	BYTE $0x5d
	RET

// push r12 (41 54)
TEXT ·pushr12(SB), NOSPLIT, $0-0
	BYTE $0x41; BYTE $0x54
	BYTE $0x41; BYTE $0x5c
	RET

// jmp +0 (eb 00)
TEXT ·jmp8(SB), NOSPLIT, $0-0
	BYTE $0xeb; BYTE $0x00
	RET

// je +0 (74 00)
TEXT ·jcc8(SB), NOSPLIT, $0-0
	BYTE $0x74; BYTE $0x00
	RET

// je +0 (0f 84 00 00 00 00)
TEXT ·jcc32(SB), NOSPLIT, $0-0
	BYTE $0x0f; BYTE $0x84; BYTE $0x00; BYTE $0x00; BYTE $0x00; BYTE $0x00
	RET

// call +1 (e8 01 00 00 00); ret; ret
TEXT ·call32(SB), NOSPLIT, $0-0
	BYTE $0xe8; BYTE $0x01; BYTE $0x00; BYTE $0x00; BYTE $0x00
	BYTE $0xc3
	BYTE $0xc3

// cmp rax, rbx (48 39 d8): only flags change
TEXT ·cmp(SB), NOSPLIT, $0-0
	BYTE $0x48; BYTE $0x39; BYTE $0xd8
	RET

// test rax, rax (48 85 c0)
TEXT ·test(SB), NOSPLIT, $0-0
	BYTE $0x48; BYTE $0x85; BYTE $0xc0
	RET

// mov rdx, rbx (48 89 da)
TEXT ·mov(SB), NOSPLIT, $0-0
	BYTE $0x48; BYTE $0x89; BYTE $0xda
	RET

// sub rsp, 8 (48 83 ec 08); add rsp, 8
TEXT ·subsp(SB), NOSPLIT, $0-0
	BYTE $0x48; BYTE $0x83; BYTE $0xec; BYTE $0x08
	BYTE $0x48; BYTE $0x83; BYTE $0xc4; BYTE $0x08
	RET

// ret (c3)
TEXT ·ret(SB), NOSPLIT, $0-0
	RET
