#include "textflag.h"

// BCAST32 sets every 32-bit lane of y to src (an immediate or a 32-bit
// argument), through AX and x.
#define BCAST32(src, x, y) \
	MOVL         src, AX \
	VMOVQ        AX, x \
	VPBROADCASTD x, y

// INDICES sets the eight 32-bit lanes of y to off, off+1, …, off+7 (off is
// an int argument); it uses AX and X8.
#define INDICES(off, y) \
	MOVQ         off, AX \
	VMOVQ         AX, X8 \
	VPBROADCASTD X8, y \
	VPADDD       lanes<>(SB), y, y

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

// ROUNDBF16 rounds the eight floats at src to bfloat16, one per 32-bit
// lane of dst, given the constants BF16CONSTS loads into Y8-Y12.
#define ROUNDBF16(src, dst) \
	VMOVDQU   src, Y0 \
	VPSRLD    $16, Y0, Y1 \
	VPAND     Y9, Y1, Y2 \
	VPADDD    Y8, Y0, Y3 \
	VPADDD    Y2, Y3, Y3 \
	VPSRLD    $16, Y3, Y3 \
	VPOR      Y12, Y1, Y4 \
	VPAND     Y10, Y0, Y5 \
	VPCMPGTD  Y11, Y5, Y5 \
	VPBLENDVB Y5, Y4, Y3, dst

// BF16CONSTS loads ROUNDBF16's constants into Y8-Y12.
#define BF16CONSTS \
	BCAST32($0x7fff, X8, Y8) \
	BCAST32($1, X9, Y9) \
	BCAST32($0x7fffffff, X10, Y10) \
	BCAST32($0x7f800000, X11, Y11) \
	BCAST32($0x40, X12, Y12)

// func f32ToBF16AVX2(dst *byte, src *float32, n int)
// n is a positive multiple of 16. Per lane, with b the float's bits:
// NaN (|b| > 0x7f800000) gives b>>16 | 0x40, else (b + 0x7fff + (b>>16)&1) >> 16.
TEXT ·f32ToBF16AVX2(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX

	BF16CONSTS

narrow:
	ROUNDBF16((SI), Y6)
	ROUNDBF16(32(SI), Y7)

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

// func roundToBF16AVX2(dst, src *float32, n int)
// n is a positive multiple of 16. Per lane: f32ToBF16AVX2's bfloat16 of
// the float, shifted back into the high half (dst may be src).
TEXT ·roundToBF16AVX2(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX

	BF16CONSTS

round:
	ROUNDBF16((SI), Y6)
	ROUNDBF16(32(SI), Y7)
	VPSLLD  $16, Y6, Y6
	VPSLLD  $16, Y7, Y7
	VMOVDQU Y6, (DI)
	VMOVDQU Y7, 32(DI)
	ADDQ    $64, SI
	ADDQ    $64, DI
	SUBQ    $16, CX
	JNZ     round
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

	BCAST32($0x7fffffff, X15, Y15)
	BCAST32($0x3f800000, X14, Y14)
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

DATA lanes<>+0(SB)/4, $0
DATA lanes<>+4(SB)/4, $1
DATA lanes<>+8(SB)/4, $2
DATA lanes<>+12(SB)/4, $3
DATA lanes<>+16(SB)/4, $4
DATA lanes<>+20(SB)/4, $5
DATA lanes<>+24(SB)/4, $6
DATA lanes<>+28(SB)/4, $7
GLOBL lanes<>(SB), RODATA|NOPTR, $32

DATA bitlanes<>+0(SB)/4, $1
DATA bitlanes<>+4(SB)/4, $2
DATA bitlanes<>+8(SB)/4, $4
DATA bitlanes<>+12(SB)/4, $8
DATA bitlanes<>+16(SB)/4, $16
DATA bitlanes<>+20(SB)/4, $32
DATA bitlanes<>+24(SB)/4, $64
DATA bitlanes<>+28(SB)/4, $128
GLOBL bitlanes<>(SB), RODATA|NOPTR, $32

// func weighCutAVX2(x, d, b *float32, n, off int, keepAbove, keepEnd, dropAbove, dropEnd int32, scale, weight float32)
// n is a positive multiple of 8; off+n fits in an int32.
TEXT ·weighCutAVX2(SB), NOSPLIT, $0-64
	MOVQ         x+0(FP), DI
	MOVQ         d+8(FP), SI
	MOVQ         b+16(FP), DX
	MOVQ         n+24(FP), CX
	INDICES(off+32(FP), Y8)
	BCAST32(keepAbove+40(FP), X14, Y14)
	BCAST32(keepEnd+44(FP), X13, Y13)
	BCAST32(dropAbove+48(FP), X12, Y12)
	BCAST32(dropEnd+52(FP), X11, Y11)
	VBROADCASTSS scale+56(FP), Y10
	VBROADCASTSS weight+60(FP), Y9
	BCAST32($8, X7, Y7)
	BCAST32($0x7fffffff, X15, Y15)

weighcut:
	VMOVUPS  (SI), Y0
	VSUBPS   (DX), Y0, Y0
	VPAND    Y15, Y0, Y1 // magnitude key
	VPCMPGTD Y14, Y1, Y2
	VPCMPEQD Y14, Y1, Y3
	VPCMPGTD Y8, Y13, Y4
	VPAND    Y4, Y3, Y3
	VPOR     Y3, Y2, Y2 // in keep
	VPCMPGTD Y12, Y1, Y5
	VPCMPEQD Y12, Y1, Y3
	VPCMPGTD Y8, Y11, Y4
	VPAND    Y4, Y3, Y3
	VPOR     Y3, Y5, Y5 // in drop
	VPANDN   Y2, Y5, Y2
	VPAND    Y2, Y0, Y0
	VMULPS   Y10, Y0, Y0
	VMULPS   Y9, Y0, Y0
	VMOVUPS  Y0, (DI)
	VPADDD   Y7, Y8, Y8
	ADDQ     $32, SI
	ADDQ     $32, DX
	ADDQ     $32, DI
	SUBQ     $8, CX
	JNZ      weighcut
	VZEROUPPER
	RET

// func weighBitsAVX2(x, d, b *float32, bits *byte, n int, scale, weight float32)
// n is a positive multiple of 8; bits points at the byte of the first element.
TEXT ·weighBitsAVX2(SB), NOSPLIT, $0-48
	MOVQ         x+0(FP), DI
	MOVQ         d+8(FP), SI
	MOVQ         b+16(FP), DX
	MOVQ         bits+24(FP), R8
	MOVQ         n+32(FP), CX
	VBROADCASTSS scale+40(FP), Y10
	VBROADCASTSS weight+44(FP), Y9
	VMOVDQU      bitlanes<>(SB), Y6

weighbits:
	MOVBLZX      (R8), AX
	VMOVQ         AX, X1
	VPBROADCASTD X1, Y1
	VPAND        Y6, Y1, Y1
	VPCMPEQD     Y6, Y1, Y1 // lane's bit set
	VMOVUPS      (SI), Y0
	VSUBPS       (DX), Y0, Y0
	VPAND        Y1, Y0, Y0
	VMULPS       Y10, Y0, Y0
	VMULPS       Y9, Y0, Y0
	VMOVUPS      Y0, (DI)
	INCQ         R8
	ADDQ         $32, SI
	ADDQ         $32, DX
	ADDQ         $32, DI
	SUBQ         $8, CX
	JNZ          weighbits
	VZEROUPPER
	RET

// func windowAVX2(d, b *float32, n, off int, lo, hi int32, cands *uint64) (above, added int)
// n is a positive multiple of 8; off+n fits in an int32; cands has room
// for n entries.
TEXT ·windowAVX2(SB), NOSPLIT, $64-64
	MOVQ         d+0(FP), SI
	MOVQ         b+8(FP), DX
	MOVQ         n+16(FP), CX
	INDICES(off+24(FP), Y8)
	BCAST32(lo+32(FP), X13, Y13)
	BCAST32(hi+36(FP), X14, Y14)
	MOVQ         cands+40(FP), DI
	BCAST32($8, X7, Y7)
	BCAST32($0x7fffffff, X15, Y15)
	XORQ         R9, R9 // above
	XORQ         R10, R10 // added

window:
	VMOVUPS   (SI), Y0
	VSUBPS    (DX), Y0, Y0
	VPAND     Y15, Y0, Y1 // magnitude key
	VPCMPGTD  Y14, Y1, Y2 // above hi
	VMOVMSKPS Y2, AX
	POPCNTL   AX, AX
	ADDQ      AX, R9
	VPCMPGTD  Y1, Y13, Y3 // below lo
	VPOR      Y3, Y2, Y3
	VMOVMSKPS Y3, AX
	XORL      $0xff, AX // inside the window
	JNZ       collect

next:
	VPADDD Y7, Y8, Y8
	ADDQ   $32, SI
	ADDQ   $32, DX
	SUBQ   $8, CX
	JNZ    window
	MOVQ   R9, above+48(FP)
	MOVQ   R10, added+56(FP)
	VZEROUPPER
	RET

collect:
	VMOVDQU Y1, 0(SP)
	VMOVDQU Y8, 32(SP)

lane:
	BSFL  AX, BX
	MOVL  0(SP)(BX*4), R11
	MOVL  32(SP)(BX*4), R12
	SHLQ  $32, R11
	ORQ   R12, R11
	MOVQ  R11, (DI)(R10*8)
	INCQ  R10
	LEAL  -1(AX), BX
	ANDL  BX, AX
	JNZ   lane
	JMP   next

// func countNonFiniteAVX2(v *float32, n int) int
// n is a positive multiple of 8.
TEXT ·countNonFiniteAVX2(SB), NOSPLIT, $0-24
	MOVQ         v+0(FP), SI
	MOVQ         n+8(FP), CX
	BCAST32($0x7f800000, X15, Y15)
	XORQ         R9, R9

nonfinite:
	VPAND     (SI), Y15, Y0
	VPCMPEQD  Y15, Y0, Y0
	VMOVMSKPS Y0, AX
	POPCNTL   AX, AX
	ADDQ      AX, R9
	ADDQ      $32, SI
	SUBQ      $8, CX
	JNZ       nonfinite
	MOVQ      R9, ret+16(FP)
	VZEROUPPER
	RET

DATA qbits<>+0(SB)/8, $1
DATA qbits<>+8(SB)/8, $2
DATA qbits<>+16(SB)/8, $4
DATA qbits<>+24(SB)/8, $8
GLOBL qbits<>(SB), RODATA|NOPTR, $32

// func splitAVX2(keep, band *uint64, draws *uint32, n int, lo, hi uint32)
// n is a positive multiple of 8; draws are below 2^31. Writes whole words.
TEXT ·splitAVX2(SB), NOSPLIT, $0-40
	MOVQ         keep+0(FP), DI
	MOVQ         band+8(FP), R8
	MOVQ         draws+16(FP), SI
	MOVQ         n+24(FP), R9
	BCAST32(lo+32(FP), X13, Y13)
	BCAST32(hi+36(FP), X14, Y14)
	XORQ         R11, R11 // element index
	XORQ         R12, R12 // keep word being built
	XORQ         R13, R13 // band word being built

split:
	VMOVDQU   (SI)(R11*4), Y0
	VPCMPGTD  Y0, Y13, Y1 // below lo: kept
	VPCMPGTD  Y0, Y14, Y2 // below hi
	VPANDN    Y2, Y1, Y2 // in the band
	MOVQ      R11, CX
	ANDQ      $63, CX
	VMOVMSKPS Y1, AX
	SHLQ      CX, AX
	ORQ       AX, R12
	VMOVMSKPS Y2, AX
	SHLQ      CX, AX
	ORQ       AX, R13
	CMPQ      CX, $56
	JNE       splitnext
	MOVQ      R12, (DI)
	MOVQ      R13, (R8)
	ADDQ      $8, DI
	ADDQ      $8, R8
	XORQ      R12, R12
	XORQ      R13, R13

splitnext:
	ADDQ $8, R11
	SUBQ $8, R9
	JNZ  split
	MOVQ R11, CX
	ANDQ $63, CX
	JZ   splitdone
	MOVQ R12, (DI)
	MOVQ R13, (R8)

splitdone:
	VZEROUPPER
	RET

// func maxKeyAVX2(v *float32, n int) uint32
// n is a positive multiple of 8.
TEXT ·maxKeyAVX2(SB), NOSPLIT, $0-20
	MOVQ         v+0(FP), SI
	MOVQ         n+8(FP), CX
	BCAST32($0x7fffffff, X15, Y15)
	VPXOR        Y0, Y0, Y0

maxkey:
	VPAND   (SI), Y15, Y1
	VPMAXUD Y1, Y0, Y0
	ADDQ    $32, SI
	SUBQ    $8, CX
	JNZ     maxkey
	VEXTRACTI128 $1, Y0, X1
	VPMAXUD X1, X0, X0
	VPSHUFD $0x4e, X0, X1
	VPMAXUD X1, X0, X0
	VPSHUFD $0xb1, X0, X1
	VPMAXUD X1, X0, X0
	VMOVQ    X0, AX
	MOVL    AX, ret+16(FP)
	VZEROUPPER
	RET

// func bucketsAVX2(dst *uint32, v *float32, n int, low uint32, shift uint64)
// n is a positive multiple of 8.
TEXT ·bucketsAVX2(SB), NOSPLIT, $0-40
	MOVQ         dst+0(FP), DI
	MOVQ         v+8(FP), SI
	MOVQ         n+16(FP), CX
	BCAST32(low+24(FP), X13, Y13)
	MOVQ         shift+32(FP), AX
	VMOVQ         AX, X12
	BCAST32($0x7fffffff, X15, Y15)
	VPXOR        Y14, Y14, Y14
	VPCMPEQD     Y11, Y11, Y11 // -1

buckets:
	VPAND    (SI), Y15, Y1
	VPSUBD   Y13, Y1, Y0
	VPMAXSD  Y14, Y0, Y0 // keys below low: bucket 1
	VPSRLD   X12, Y0, Y0
	VPCMPEQD Y14, Y1, Y1 // zero: -1
	VPSUBD   Y11, Y0, Y0 // + 1
	VPADDD   Y1, Y0, Y0
	VMOVDQU  Y0, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DI
	SUBQ    $8, CX
	JNZ     buckets
	VZEROUPPER
	RET

// func absSumsAVX2(v *float32, keep *uint64, n int, sums *[16]float64)
// n is a positive multiple of 8. Lane j of sums[0:8] sums |v[i]| over
// i ≡ j (mod 8), in index order; sums[8:16] the same over the elements
// whose keep bit is set.
TEXT ·absSumsAVX2(SB), NOSPLIT, $0-32
	MOVQ         v+0(FP), SI
	MOVQ         keep+8(FP), DI
	MOVQ         n+16(FP), R9
	MOVQ         $0x7fffffffffffffff, AX
	VMOVQ         AX, X15
	VPBROADCASTQ X15, Y15
	VMOVDQU      qbits<>(SB), Y14
	VXORPD       Y0, Y0, Y0 // all, lanes 0-3
	VXORPD       Y4, Y4, Y4 // all, lanes 4-7
	VXORPD       Y1, Y1, Y1 // kept, lanes 0-3
	VXORPD       Y5, Y5, Y5 // kept, lanes 4-7
	XORQ         R11, R11

abssums:
	MOVQ         R11, BX
	SHRQ         $6, BX
	MOVQ         (DI)(BX*8), DX
	MOVQ         R11, CX
	ANDQ         $63, CX
	SHRQ         CX, DX // keep bits from element R11 on
	VCVTPS2PD    (SI), Y2
	VANDPD       Y15, Y2, Y2
	VADDPD       Y2, Y0, Y0
	VMOVQ         DX, X3
	VPBROADCASTQ X3, Y3
	VPAND        Y14, Y3, Y3
	VPCMPEQQ     Y14, Y3, Y3
	VANDPD       Y3, Y2, Y2
	VADDPD       Y2, Y1, Y1
	SHRQ         $4, DX
	VCVTPS2PD    16(SI), Y6
	VANDPD       Y15, Y6, Y6
	VADDPD       Y6, Y4, Y4
	VMOVQ         DX, X7
	VPBROADCASTQ X7, Y7
	VPAND        Y14, Y7, Y7
	VPCMPEQQ     Y14, Y7, Y7
	VANDPD       Y7, Y6, Y6
	VADDPD       Y6, Y5, Y5
	ADDQ         $32, SI
	ADDQ         $8, R11
	SUBQ         $8, R9
	JNZ          abssums
	MOVQ         sums+24(FP), DI
	VMOVUPD      Y0, (DI)
	VMOVUPD      Y4, 32(DI)
	VMOVUPD      Y1, 64(DI)
	VMOVUPD      Y5, 96(DI)
	VZEROUPPER
	RET

// func subAVX2(dst, a, b *float32, n int)
// n is a positive multiple of 8.
TEXT ·subAVX2(SB), NOSPLIT, $0-32
	MOVQ dst+0(FP), DI
	MOVQ a+8(FP), SI
	MOVQ b+16(FP), DX
	MOVQ n+24(FP), CX

sub:
	VMOVUPS (SI), Y0
	VSUBPS  (DX), Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DX
	ADDQ    $32, DI
	SUBQ    $8, CX
	JNZ     sub
	VZEROUPPER
	RET

// MUL64 sets z = z * c (mod 2^64) per 64-bit lane; cl and ch hold c's low
// and high 32 bits in each lane; t1 and t2 are scratch.
#define MUL64(z, cl, ch, t1, t2) \
	VPSRLQ   $32, z, t1 \
	VPMULUDQ cl, t1, t1 \
	VPMULUDQ ch, z, t2 \
	VPADDQ   t2, t1, t1 \
	VPSLLQ   $32, t1, t1 \
	VPMULUDQ cl, z, z \
	VPADDQ   t1, z, z

// MIX is splitmix64's finaliser on each 64-bit lane of z, shifted right
// by 40: z ^= z>>30; z *= C1; z ^= z>>27; z *= C2; z ^= z>>31; z >>= 40.
#define MIX(z, t1, t2) \
	VPSRLQ $30, z, t1 \
	VPXOR  t1, z, z \
	MUL64(z, Y10, Y11, t1, t2) \
	VPSRLQ $27, z, t1 \
	VPXOR  t1, z, z \
	MUL64(z, Y12, Y13, t1, t2) \
	VPSRLQ $31, z, t1 \
	VPXOR  t1, z, z \
	VPSRLQ $40, z, z

// DRAWSETUP loads what the draw loops share, given x in SI: Y0 and Y1 the
// eight lanes' inputs, Y9 the step 8*golden, Y10 and Y12 the finaliser's
// multipliers.
#define DRAWSETUP \
	VMOVDQU      (SI), Y0 \
	VMOVDQU      32(SI), Y1 \
	MOVQ         $0xf1bbcdcbfa53e0a8, AX \
	VMOVQ         AX, X9 \
	VPBROADCASTQ X9, Y9 \
	MOVQ         $0xbf58476d1ce4e5b9, AX \
	VMOVQ         AX, X10 \
	VPBROADCASTQ X10, Y10 \
	MOVQ         $0x94d049bb133111eb, AX \
	VMOVQ         AX, X12 \
	VPBROADCASTQ X12, Y12

// DRAWSTORE stores the low dwords of Y2 and Y3's eight lanes, in order,
// and steps to the next eight elements.
#define DRAWSTORE \
	VPSHUFD     $0x88, Y2, Y2 \
	VPERMQ      $0x08, Y2, Y2 \
	VPSHUFD     $0x88, Y3, Y3 \
	VPERMQ      $0x08, Y3, Y3 \
	VINSERTI128 $1, X3, Y2, Y2 \
	VMOVDQU     Y2, (DI) \
	VPADDQ      Y9, Y0, Y0 \
	VPADDQ      Y9, Y1, Y1 \
	ADDQ        $32, DI \
	SUBQ        $8, CX

// func drawsAVX2(dst *uint32, x *uint64, n int)
// n is a positive multiple of 8; x holds the first 8 elements' splitmix64
// inputs (key + i*golden), each next group's are 8*golden further.
TEXT ·drawsAVX2(SB), NOSPLIT, $0-24
	MOVQ   dst+0(FP), DI
	MOVQ   x+8(FP), SI
	MOVQ   n+16(FP), CX
	DRAWSETUP
	VPSRLQ $32, Y10, Y11 // the multipliers' high halves for MUL64
	VPSRLQ $32, Y12, Y13

draws:
	VMOVDQA Y0, Y2
	VMOVDQA Y1, Y3
	MIX(Y2, Y4, Y5)
	MIX(Y3, Y6, Y7)
	DRAWSTORE
	JNZ     draws
	VZEROUPPER
	RET

// MIX512 is MIX with AVX-512's 64-bit multiply (VPMULLQ on 256-bit
// registers); Y10 and Y12 hold the full constants.
#define MIX512(z, t1) \
	VPSRLQ  $30, z, t1 \
	VPXOR   t1, z, z \
	VPMULLQ Y10, z, z \
	VPSRLQ  $27, z, t1 \
	VPXOR   t1, z, z \
	VPMULLQ Y12, z, z \
	VPSRLQ  $31, z, t1 \
	VPXOR   t1, z, z \
	VPSRLQ  $40, z, z

// func drawsAVX512(dst *uint32, x *uint64, n int)
// drawsAVX2 for CPUs with AVX-512 DQ and VL.
TEXT ·drawsAVX512(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ n+16(FP), CX
	DRAWSETUP

draws512:
	VMOVDQA Y0, Y2
	VMOVDQA Y1, Y3
	MIX512(Y2, Y4)
	MIX512(Y3, Y6)
	DRAWSTORE
	JNZ     draws512
	VZEROUPPER
	RET

// func collectAVX2(dst *uint32, src *uint32, n int, value uint32) (added int)
// n is a positive multiple of 8; dst has room for n entries.
TEXT ·collectAVX2(SB), NOSPLIT, $0-40
	MOVQ         dst+0(FP), DI
	MOVQ         src+8(FP), SI
	MOVQ         n+16(FP), R9
	MOVL         value+24(FP), AX
	VMOVQ         AX, X13
	VPBROADCASTD X13, Y13
	XORQ         R10, R10 // added
	XORQ         R11, R11 // element index

collect8:
	VPCMPEQD  (SI)(R11*4), Y13, Y0
	VMOVMSKPS Y0, AX
	TESTL     AX, AX
	JNZ       found

collectnext:
	ADDQ $8, R11
	SUBQ $8, R9
	JNZ  collect8
	MOVQ R10, added+32(FP)
	VZEROUPPER
	RET

found:
	BSFL AX, BX
	LEAQ (R11)(BX*1), DX
	MOVL DX, (DI)(R10*4)
	INCQ R10
	LEAL -1(AX), BX
	ANDL BX, AX
	JNZ  found
	JMP  collectnext

// func addScaledAVX2(out, b *float32, n int, lambda float32, scale bool)
// n is a positive multiple of 8: out = out*lambda + b (out + b unless scale).
TEXT ·addScaledAVX2(SB), NOSPLIT, $0-29
	MOVQ         out+0(FP), DI
	MOVQ         b+8(FP), SI
	MOVQ         n+16(FP), CX
	VBROADCASTSS lambda+24(FP), Y9
	MOVBLZX      scale+28(FP), AX
	TESTQ        AX, AX
	JZ           add

scaleadd:
	VMOVUPS (DI), Y0
	VMULPS  Y9, Y0, Y0
	VADDPS  (SI), Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DI
	SUBQ    $8, CX
	JNZ     scaleadd
	VZEROUPPER
	RET

add:
	VMOVUPS (DI), Y0
	VADDPS  (SI), Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DI
	SUBQ    $8, CX
	JNZ     add
	VZEROUPPER
	RET

// Q8ROUND rounds the floats of y to integers, halves away from zero, and
// truncates them to int32 (exactly, for |y| < 2^23): t = trunc(y), plus
// ±1 (y's sign) where |y - t| >= 0.5. It uses Y4, Y5, Y7 and the
// constants of quantizeQ8_0AVX2 in Y9-Y12.
#define Q8ROUND(y) \
	VROUNDPS   $3, y, Y4 \
	VSUBPS     Y4, y, Y5 \
	VANDPS     Y9, Y5, Y5 \
	VCMPPS     $0x1d, Y11, Y5, Y5 \
	VANDPS     Y10, y, Y7 \
	VORPS      Y12, Y7, Y7 \
	VANDPS     Y5, Y7, Y7 \
	VADDPS     Y7, Y4, y \
	VCVTTPS2DQ y, y

// func quantizeQ8_0AVX2(dst *byte, src *float32, nb int) (done int)
// Quantizes up to nb q8_0 blocks of 32 floats from src into the 34-byte
// blocks at dst: each block's scale d = amax/127, rounded to half
// precision by VCVTPS2PH to nearest even (as ggml's GGML_FP32_TO_FP16 on
// F16C, and F32ToF16 for a finite d), then its 32 quants. It stops before
// a block whose amax is not finite or whose 1/d is not finite, and returns
// the number of blocks done. amax is the maximum of the magnitudes' bits
// as unsigned integers, which for finite floats is the float maximum.
TEXT ·quantizeQ8_0AVX2(SB), NOSPLIT, $0-32
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ nb+16(FP), CX
	XORQ BX, BX
	BCAST32($0x7fffffff, X9, Y9)   // |x| mask
	BCAST32($0x80000000, X10, Y10) // sign mask
	BCAST32($0x3f000000, X11, Y11) // 0.5
	BCAST32($0x3f800000, X12, Y12) // 1.0
	VMOVDQU q8order<>(SB), Y13
	MOVL    $0x42fe0000, AX        // 127.0
	VMOVQ   AX, X14
	MOVL    $0x3f800000, AX        // 1.0
	VMOVQ   AX, X15

q8block:
	CMPQ         BX, CX
	JGE          q8done
	VMOVUPS      (SI), Y0
	VMOVUPS      32(SI), Y1
	VMOVUPS      64(SI), Y2
	VMOVUPS      96(SI), Y3
	VPAND        Y9, Y0, Y4
	VPAND        Y9, Y1, Y5
	VPAND        Y9, Y2, Y6
	VPAND        Y9, Y3, Y7
	VPMAXUD      Y4, Y5, Y4
	VPMAXUD      Y6, Y7, Y6
	VPMAXUD      Y4, Y6, Y4
	VEXTRACTI128 $1, Y4, X5
	VPMAXUD      X4, X5, X4
	VPSHUFD      $0x4e, X4, X5
	VPMAXUD      X4, X5, X4
	VPSHUFD      $0xb1, X4, X5
	VPMAXUD      X4, X5, X4
	VMOVQ        X4, AX
	CMPL         AX, $0x7f800000
	JAE          q8done            // Inf or NaN: the scalar loop
	VDIVSS       X14, X4, X5       // d = amax / 127
	VMOVQ        X5, DX
	VXORPS       X6, X6, X6        // id = 0 when d is 0
	TESTL        DX, DX
	JZ           q8scale
	VDIVSS       X5, X15, X6       // id = 1 / d
	VMOVQ        X6, DX
	CMPL         DX, $0x7f800000
	JAE          q8done            // d too small to invert: the scalar loop

q8scale:
	VCVTPS2PH    $0, X5, X7        // d in half precision, to nearest even
	VMOVQ        X7, AX
	MOVW         AX, (DI)
	VBROADCASTSS X6, Y6
	VMULPS       Y6, Y0, Y0
	VMULPS       Y6, Y1, Y1
	VMULPS       Y6, Y2, Y2
	VMULPS       Y6, Y3, Y3
	Q8ROUND(Y0)
	Q8ROUND(Y1)
	Q8ROUND(Y2)
	Q8ROUND(Y3)
	VPACKSSDW    Y1, Y0, Y0
	VPACKSSDW    Y3, Y2, Y2
	VPACKSSWB    Y2, Y0, Y0
	VPERMD       Y0, Y13, Y0
	VMOVDQU      Y0, 2(DI)
	ADDQ         $128, SI
	ADDQ         $34, DI
	INCQ         BX
	JMP          q8block

q8done:
	MOVQ BX, done+24(FP)
	VZEROUPPER
	RET

// q8order puts the dwords of the packed quants back in element order.
DATA q8order<>+0(SB)/4, $0
DATA q8order<>+4(SB)/4, $4
DATA q8order<>+8(SB)/4, $1
DATA q8order<>+12(SB)/4, $5
DATA q8order<>+16(SB)/4, $2
DATA q8order<>+20(SB)/4, $6
DATA q8order<>+24(SB)/4, $3
DATA q8order<>+28(SB)/4, $7
GLOBL q8order<>(SB), RODATA|NOPTR, $32

// func weightedSumAVX2(out *float32, x **float32, w *float64, nx, n int, div float64, divide bool)
// n is a positive multiple of 8 and nx positive. Per element, in float64:
// s = +0; s += w[i]·x[i][k] for each input in order (VMULPD then VADDPD,
// never fused); out[k] = float32(s / div). The caller clears divide when
// div is 1, where s / div is s bit for bit and the division is skipped.
TEXT ·weightedSumAVX2(SB), NOSPLIT, $0-49
	MOVQ         out+0(FP), DI
	MOVQ         x+8(FP), SI
	MOVQ         w+16(FP), R8
	MOVQ         nx+24(FP), R9
	MOVQ         n+32(FP), CX
	VBROADCASTSD div+40(FP), Y15
	MOVBQZX      divide+48(FP), R12
	XORQ         DX, DX

wsum:
	VXORPD Y0, Y0, Y0
	VXORPD Y1, Y1, Y1
	XORQ   R10, R10

wsuminput:
	MOVQ         (SI)(R10*8), R11
	VBROADCASTSD (R8)(R10*8), Y2
	VCVTPS2PD    (R11)(DX*4), Y3
	VCVTPS2PD    16(R11)(DX*4), Y4
	VMULPD       Y2, Y3, Y3
	VMULPD       Y2, Y4, Y4
	VADDPD       Y3, Y0, Y0
	VADDPD       Y4, Y1, Y1
	INCQ         R10
	CMPQ         R10, R9
	JLT          wsuminput
	TESTQ        R12, R12
	JZ           wsumround
	VDIVPD       Y15, Y0, Y0
	VDIVPD       Y15, Y1, Y1

wsumround:
	VCVTPD2PSY   Y0, X0
	VCVTPD2PSY   Y1, X1
	VMOVUPS      X0, (DI)(DX*4)
	VMOVUPS      X1, 16(DI)(DX*4)
	ADDQ         $8, DX
	CMPQ         DX, CX
	JLT          wsum
	VZEROUPPER
	RET
