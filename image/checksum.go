package image

import (
	"fmt"
	"hash/crc32"
)

// All checksums in an image are CRC-32C (Castagnoli), the polynomial with a
// hardware instruction on x86_64 (SSE4.2 crc32) that hash/crc32 uses. See
// docs/image-format.md for why this and not SHA-256: the checksums guard
// against corruption (torn writes, bit rot, truncation, a file copied half
// way), not against an attacker, and page data must be hashed much faster
// than the disk can write it.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// crc32c returns the CRC-32C of p.
func crc32c(p []byte) uint32 { return crc32.Checksum(p, castagnoli) }

// crc32cUpdate continues a CRC-32C with more data.
func crc32cUpdate(crc uint32, p []byte) uint32 { return crc32.Update(crc, castagnoli, p) }

// castagnoliReflected is the CRC-32C polynomial in the bit-reflected form
// hash/crc32 computes with.
const castagnoliReflected = 0x82f63b78

// x2nTable[n] is x^(2^n) modulo the polynomial, for crc32cCombine. It covers
// every n a 64-bit length can need (k starts at 3 and grows by one per length
// bit) instead of wrapping at 32 as zlib does: zlib's wrap relies on the
// period of its own polynomial; for CRC-32C's the sequence repeats every 31,
// so a k&31 index gave wrong CRCs for lengths of 512 MiB and more (found by
// the checkpoint benchmark: 1 GiB images failed verification).
var x2nTable = func() (t [68]uint32) {
	p := uint32(1) << 30 // x^1
	for n := range t {
		t[n] = p
		p = multModP(p, p)
	}
	return t
}()

// multModP multiplies a and b modulo the CRC polynomial (reflected bit
// order). Ported from zlib's crc32.c.
func multModP(a, b uint32) uint32 {
	if a == 0 {
		return 0
	}
	m := uint32(1) << 31
	var p uint32
	for {
		if a&m != 0 {
			p ^= b
			if a&(m-1) == 0 {
				break
			}
		}
		m >>= 1
		if b&1 != 0 {
			b = b>>1 ^ castagnoliReflected
		} else {
			b >>= 1
		}
	}
	return p
}

// x2nModP returns x^(n * 2^k) modulo the polynomial.
func x2nModP(n uint64, k uint) uint32 {
	p := uint32(1) << 31 // x^0 == 1
	for n != 0 {
		if n&1 != 0 {
			p = multModP(x2nTable[k], p)
		}
		n >>= 1
		k++
	}
	return p
}

// crc32cCombine returns the CRC-32C of A followed by B, given crcA = CRC(A),
// crcB = CRC(B) and lenB = len(B), without touching the data (zlib's
// crc32_combine). The writer hashes every AddPages buffer once, records that
// CRC for the extent, and derives the whole file's CRC from the extent CRCs.
func crc32cCombine(crcA, crcB uint32, lenB uint64) uint32 {
	return multModP(x2nModP(lenB, 3), crcA) ^ crcB
}

// formatCRC is how checksums are printed in messages.
func formatCRC(c uint32) string { return fmt.Sprintf("%08x", c) }
