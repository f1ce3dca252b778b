#include "textflag.h"

// func leafAsm(n int, s string) int
// Compiled Go code under the stack ABI loads its arguments first; this
// function tests R12 and branches before it does, so weaver probes the JEQ
// (the kernel emulates it) and must still read n and s at SP+8.
TEXT ·leafAsm(SB), NOSPLIT, $0-32
	TESTQ R12, R12
	JEQ   body
	NOP
body:
	MOVQ n+0(FP), AX
	MOVQ s_len+16(FP), CX
	ADDQ CX, AX
	MOVQ AX, ret+24(FP)
	RET
