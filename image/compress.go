package image

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"runtime"
	"sync"

	"github.com/klauspost/compress/zstd"
)

// Compression says how a Writer stores page data (Writer.SetCompression).
type Compression string

const (
	// CompressNone stores every page raw, as format 1 always did: the
	// image needs no feature and any crrun reads it.
	CompressNone Compression = "none"
	// CompressZstd splits page data into blocks of BlockSize and stores
	// each block zstd-compressed (level "fastest"), raw when it does not
	// compress (random data), or not at all when it is all zero. The
	// image then requires the feature FeatureCompressedPages.
	CompressZstd Compression = "zstd"
	// CompressAuto compresses where it pays on a machine whose disk
	// writes about as fast as zstd compresses: zero blocks are never
	// stored, and a block is compressed only when a 64 KiB sample of it
	// compresses to half or less (zero-rich arrays, grids, counters,
	// sparse data); everything else is stored raw, costing the sample
	// only. Measured on the 2-CPU VM, compressing memhog's doubles (to
	// 77 %) made the durable checkpoint 65 % slower than raw, while zero
	// pages made it 2.3 times faster.
	CompressAuto Compression = "auto"
)

// DefaultCompression is what crrun's checkpoints use unless told otherwise
// (--compress). A Writer's own default is CompressNone.
const DefaultCompression = CompressAuto

// ParseCompression checks a --compress value.
func ParseCompression(s string) (Compression, error) {
	switch Compression(s) {
	case CompressNone, CompressZstd, CompressAuto:
		return Compression(s), nil
	}
	return "", fmt.Errorf("unknown compression %q (want auto, zstd or none)", s)
}

// autoSampleRatio: with CompressAuto a block is compressed only if its
// sample compresses to at most 1/autoSampleRatio.
const autoSampleRatio = 2

// Encodings of a PageExtent (PageExtent.Encoding).
const (
	// EncodingRaw: Length bytes at Offset, exactly the memory; mappable.
	EncodingRaw = ""
	// EncodingZstd: Stored bytes at Offset are zstd frames that
	// decompress to the Length bytes of memory; the extent takes
	// Stored rounded up to PageSize in the file (zero padding), so the
	// next extent starts page aligned.
	EncodingZstd = "zstd"
	// EncodingZstdShuffle: as EncodingZstd, but the frames (the writer
	// makes one per byte plane; any number of concatenated frames is
	// read) hold the memory's 8-byte words byte-shuffled: first byte 0 of
	// every word, then byte 1 of every word, … (Length/8 bytes each). Arrays of
	// numbers (doubles, integers, pointers) become long runs of similar
	// bytes (signs and exponents, high bytes), which zstd compresses
	// several times faster and smaller than the words themselves. What
	// the writer uses.
	EncodingZstdShuffle = "zstd-shuffle8"
	// EncodingZero: the Length bytes of memory are all zero; nothing is
	// stored (Offset and Stored are 0).
	EncodingZero = "zero"
)

// FeatureCompressedPages is the required feature of an image with an
// extent that is not raw: an older crrun would read a zstd frame or a
// missing zero run as the memory itself.
const FeatureCompressedPages = "compressed-pages"

const (
	// BlockSize is the unit the writer checksums, compresses and stores
	// as one extent when compressing (and the unit of its pipeline).
	BlockSize = 1 << 20
	// MaxEncodedExtent bounds the Length of a zstd extent a reader
	// accepts: what it decompresses into is allocated from it.
	MaxEncodedExtent = 8 << 20
)

// zstdEncoder and zstdDecoder are shared by every Writer and Reader of the
// process: both are safe for concurrent EncodeAll/DecodeAll, and creating
// one allocates several MiB.
var (
	zstdOnce    sync.Once
	zstdEncoder *zstd.Encoder
	zstdDecoder *zstd.Decoder
	zstdErr     error
)

func zstdCodecs() (*zstd.Encoder, *zstd.Decoder, error) {
	zstdOnce.Do(func() {
		n := runtime.GOMAXPROCS(0)
		zstdEncoder, zstdErr = zstd.NewWriter(nil,
			zstd.WithEncoderLevel(zstd.SpeedFastest),
			zstd.WithEncoderConcurrency(n),
			zstd.WithEncoderCRC(false), // the extent has its own CRC-32C
			zstd.WithWindowSize(1<<20),
			zstd.WithZeroFrames(true))
		if zstdErr != nil {
			return
		}
		zstdDecoder, zstdErr = zstd.NewReader(nil,
			zstd.WithDecoderConcurrency(n),
			zstd.WithDecoderMaxMemory(MaxEncodedExtent),
			zstd.WithDecoderMaxWindow(MaxEncodedExtent),
			zstd.WithDecodeAllCapLimit(true))
	})
	return zstdEncoder, zstdDecoder, zstdErr
}

// worthCompressing says whether length bytes compressed to stored are
// worth storing compressed: saving less than 1/8 is not worth the CPU of
// a decompression at restore (nor, for the next blocks, of compressing),
// and the block is stored raw (mappable).
func worthCompressing(stored, length int) bool { return stored <= length-length/8 }

// sampleSize is how much of a block the writer compresses first once a
// stream has shown incompressible data.
const sampleSize = 64 << 10

// zeroPage is a page of zeroes, for comparisons and padding.
var zeroPage [PageSize]byte

// allZero reports whether b is all zero bytes.
func allZero(b []byte) bool {
	for len(b) >= PageSize {
		if !bytes.Equal(b[:PageSize], zeroPage[:]) {
			return false
		}
		b = b[PageSize:]
	}
	return bytes.Equal(b, zeroPage[:len(b)])
}

// alignUp rounds n up to a multiple of PageSize.
func alignUp(n uint64) uint64 { return (n + PageSize - 1) &^ (PageSize - 1) }

// shuffle8 stores the 8-byte words of src byte-plane by byte-plane in dst
// (len(dst) == len(src), a multiple of 8): byte k of word i goes to
// dst[k*n+i], n = len(src)/8. Eight words at a time are an 8×8 byte
// matrix, transposed in registers.
func shuffle8(dst, src []byte) {
	n := len(src) / 8
	le := binary.LittleEndian
	i := 0
	for ; i+8 <= n; i += 8 {
		s := src[8*i : 8*i+64 : 8*i+64]
		a0, a1, a2, a3, a4, a5, a6, a7 := transpose8(le.Uint64(s[0:]), le.Uint64(s[8:]), le.Uint64(s[16:]), le.Uint64(s[24:]),
			le.Uint64(s[32:]), le.Uint64(s[40:]), le.Uint64(s[48:]), le.Uint64(s[56:]))
		le.PutUint64(dst[i:], a0)
		le.PutUint64(dst[n+i:], a1)
		le.PutUint64(dst[2*n+i:], a2)
		le.PutUint64(dst[3*n+i:], a3)
		le.PutUint64(dst[4*n+i:], a4)
		le.PutUint64(dst[5*n+i:], a5)
		le.PutUint64(dst[6*n+i:], a6)
		le.PutUint64(dst[7*n+i:], a7)
	}
	for ; i < n; i++ {
		for c := range 8 {
			dst[c*n+i] = src[8*i+c]
		}
	}
}

// unshuffle8 undoes shuffle8.
func unshuffle8(dst, src []byte) {
	n := len(src) / 8
	le := binary.LittleEndian
	i := 0
	for ; i+8 <= n; i += 8 {
		a0, a1, a2, a3, a4, a5, a6, a7 := transpose8(le.Uint64(src[i:]), le.Uint64(src[n+i:]), le.Uint64(src[2*n+i:]), le.Uint64(src[3*n+i:]),
			le.Uint64(src[4*n+i:]), le.Uint64(src[5*n+i:]), le.Uint64(src[6*n+i:]), le.Uint64(src[7*n+i:]))
		d := dst[8*i : 8*i+64 : 8*i+64]
		le.PutUint64(d[0:], a0)
		le.PutUint64(d[8:], a1)
		le.PutUint64(d[16:], a2)
		le.PutUint64(d[24:], a3)
		le.PutUint64(d[32:], a4)
		le.PutUint64(d[40:], a5)
		le.PutUint64(d[48:], a6)
		le.PutUint64(d[56:], a7)
	}
	for ; i < n; i++ {
		for c := range 8 {
			dst[8*i+c] = src[c*n+i]
		}
	}
}

// transpose8 transposes the 8×8 byte matrix whose row r is xr (byte c of
// the row = bits 8c..8c+7): swap the off-diagonal 4×4 blocks, then the
// 2×2 blocks inside them, then the single bytes.
func transpose8(x0, x1, x2, x3, x4, x5, x6, x7 uint64) (uint64, uint64, uint64, uint64, uint64, uint64, uint64, uint64) {
	const m32, m16, m8 = 0x00000000ffffffff, 0x0000ffff0000ffff, 0x00ff00ff00ff00ff
	t := (x0>>32 ^ x4) & m32
	x0, x4 = x0^t<<32, x4^t
	t = (x1>>32 ^ x5) & m32
	x1, x5 = x1^t<<32, x5^t
	t = (x2>>32 ^ x6) & m32
	x2, x6 = x2^t<<32, x6^t
	t = (x3>>32 ^ x7) & m32
	x3, x7 = x3^t<<32, x7^t

	t = (x0>>16 ^ x2) & m16
	x0, x2 = x0^t<<16, x2^t
	t = (x1>>16 ^ x3) & m16
	x1, x3 = x1^t<<16, x3^t
	t = (x4>>16 ^ x6) & m16
	x4, x6 = x4^t<<16, x6^t
	t = (x5>>16 ^ x7) & m16
	x5, x7 = x5^t<<16, x7^t

	t = (x0>>8 ^ x1) & m8
	x0, x1 = x0^t<<8, x1^t
	t = (x2>>8 ^ x3) & m8
	x2, x3 = x2^t<<8, x3^t
	t = (x4>>8 ^ x5) & m8
	x4, x5 = x4^t<<8, x5^t
	t = (x6>>8 ^ x7) & m8
	x6, x7 = x6^t<<8, x7^t
	return x0, x1, x2, x3, x4, x5, x6, x7
}

// decodeExtent decompresses one zstd extent's stored bytes (encoding enc)
// into dst, which must be exactly the extent's Length long, and checks the
// result against dataCRC. scratch (grown as needed and returned) holds the
// shuffled bytes of a zstd-shuffle8 extent. It never allocates more than
// len(dst) for the output. The error says what is wrong, for a message
// naming the file and extent.
func decodeExtent(enc string, stored, dst, scratch []byte, dataCRC uint32) ([]byte, error) {
	_, dec, err := zstdCodecs()
	if err != nil {
		return scratch, err
	}
	if len(dst) == 0 || len(dst) > MaxEncodedExtent || len(dst)%8 != 0 {
		return scratch, fmt.Errorf("decompressed length %d is outside (0, %d] or not a multiple of 8", len(dst), MaxEncodedExtent)
	}
	into := dst
	if enc == EncodingZstdShuffle {
		scratch = grow(scratch, len(dst))
		into = scratch
	}
	out, err := dec.DecodeAll(stored, into[:0:len(into)])
	if err != nil {
		return scratch, fmt.Errorf("zstd: %v", err)
	}
	if len(out) != len(into) {
		return scratch, fmt.Errorf("zstd frame decompresses to %d bytes, the extent says %d", len(out), len(into))
	}
	if &out[0] != &into[0] {
		copy(into, out) // not expected with the cap limit, but never wrong
	}
	if enc == EncodingZstdShuffle {
		unshuffle8(dst, into)
	}
	if got := crc32c(dst); got != dataCRC {
		return scratch, fmt.Errorf("decompressed data has crc32c %s, the extent says %s", formatCRC(got), formatCRC(dataCRC))
	}
	return scratch, nil
}
