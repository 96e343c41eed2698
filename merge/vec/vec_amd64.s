#include "textflag.h"

// func bf16ToF32AVX2(dst *float32, src *byte, n int)
// n is a positive multiple of 16.
TEXT ·bf16ToF32AVX2(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX

widen:
	VPMOVZXWD (SI), Y0
	VPMOVZXWD 16(SI), Y1
	VPSLLD    $16, Y0, Y0
	VPSLLD    $16, Y1, Y1
	VMOVDQU   Y0, (DI)
	VMOVDQU   Y1, 32(DI)
	ADDQ      $32, SI
	ADDQ      $64, DI
	SUBQ      $16, CX
	JNZ       widen
	VZEROUPPER
	RET

// func f32ToBF16AVX2(dst *byte, src *float32, n int)
// n is a positive multiple of 16. Per lane, with b the float's bits:
// NaN (|b| > 0x7f800000) gives b>>16 | 0x40, else (b + 0x7fff + (b>>16)&1) >> 16.
TEXT ·f32ToBF16AVX2(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX

	MOVL         $0x7fff, AX
	MOVQ         AX, X8
	VPBROADCASTD X8, Y8
	MOVL         $1, AX
	MOVQ         AX, X9
	VPBROADCASTD X9, Y9
	MOVL         $0x7fffffff, AX
	MOVQ         AX, X10
	VPBROADCASTD X10, Y10
	MOVL         $0x7f800000, AX
	MOVQ         AX, X11
	VPBROADCASTD X11, Y11
	MOVL         $0x40, AX
	MOVQ         AX, X12
	VPBROADCASTD X12, Y12

narrow:
	VMOVDQU   (SI), Y0
	VPSRLD    $16, Y0, Y1
	VPAND     Y9, Y1, Y2
	VPADDD    Y8, Y0, Y3
	VPADDD    Y2, Y3, Y3
	VPSRLD    $16, Y3, Y3
	VPOR      Y12, Y1, Y4
	VPAND     Y10, Y0, Y5
	VPCMPGTD  Y11, Y5, Y5
	VPBLENDVB Y5, Y4, Y3, Y6

	VMOVDQU   32(SI), Y0
	VPSRLD    $16, Y0, Y1
	VPAND     Y9, Y1, Y2
	VPADDD    Y8, Y0, Y3
	VPADDD    Y2, Y3, Y3
	VPSRLD    $16, Y3, Y3
	VPOR      Y12, Y1, Y4
	VPAND     Y10, Y0, Y5
	VPCMPGTD  Y11, Y5, Y5
	VPBLENDVB Y5, Y4, Y3, Y7

	// pack per 128-bit lane, then put the quadwords back in order
	VPACKUSDW Y7, Y6, Y6
	VPERMQ    $0xd8, Y6, Y6
	VMOVDQU   Y6, (DI)
	ADDQ      $64, SI
	ADDQ      $32, DI
	SUBQ      $16, CX
	JNZ       narrow
	VZEROUPPER
	RET

// func consensusAVX2(out, x *float32, n, stride int, w *float32, nw int, normalize bool)
// n is a positive multiple of 8; nw >= 1. Model t's entry of element i is
// x[t*stride+i].
TEXT ·consensusAVX2(SB), NOSPLIT, $0-49
	MOVQ    out+0(FP), DI
	MOVQ    x+8(FP), SI
	MOVQ    n+16(FP), CX
	MOVQ    stride+24(FP), R8
	SHLQ    $2, R8
	MOVQ    w+32(FP), R10
	MOVQ    nw+40(FP), R9
	MOVBLZX normalize+48(FP), R11

	MOVL         $0x7fffffff, AX
	MOVQ         AX, X15
	VPBROADCASTD X15, Y15 // |x| mask
	MOVL         $0x3f800000, AX
	MOVQ         AX, X14
	VPBROADCASTD X14, Y14 // 1.0
	VPXOR        Y13, Y13, Y13 // 0

block:
	// Y0 = Σ_t x_t, in model order
	MOVQ    SI, AX
	VMOVUPS (AX), Y0
	MOVQ    R9, BX
	DECQ    BX
	JZ      summed

sum:
	ADDQ   R8, AX
	VADDPS (AX), Y0, Y0
	DECQ   BX
	JNZ    sum

summed:
	// Y2 = the sign bit of a non-zero sum
	VPAND    Y15, Y0, Y1
	VPCMPEQD Y13, Y1, Y1
	VPANDN   Y0, Y1, Y2
	VPANDN   Y2, Y15, Y2
	VXORPS   Y3, Y3, Y3 // agreeing entries
	VXORPS   Y4, Y4, Y4 // their weights
	MOVQ     SI, AX
	MOVQ     R10, DX
	MOVQ     R9, BX

elect:
	VMOVUPS      (AX), Y5
	VPXOR        Y2, Y5, Y6
	VPSRAD       $31, Y6, Y6 // other sign
	VPAND        Y15, Y5, Y7
	VPCMPEQD     Y13, Y7, Y7 // zero
	VPOR         Y7, Y6, Y6 // disagrees
	VPANDN       Y5, Y6, Y7
	VADDPS       Y7, Y3, Y3
	VBROADCASTSS (DX), Y8
	VPANDN       Y8, Y6, Y8
	VADDPS       Y8, Y4, Y4
	ADDQ         R8, AX
	ADDQ         $4, DX
	DECQ         BX
	JNZ          elect

	TESTQ     R11, R11
	JZ        store
	VPAND     Y15, Y4, Y9
	VPCMPEQD  Y13, Y9, Y9
	VBLENDVPS Y9, Y14, Y4, Y4 // a zero weight sum divides by 1
	VDIVPS    Y4, Y3, Y3

store:
	VMOVUPS Y3, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DI
	SUBQ    $8, CX
	JNZ     block
	VZEROUPPER
	RET
