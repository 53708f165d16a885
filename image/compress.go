package image

import (
	"bytes"
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
)

// DefaultCompression is what crrun's checkpoints use unless told otherwise
// (--compress). A Writer's own default is CompressNone.
const DefaultCompression = CompressZstd

// ParseCompression checks a --compress value.
func ParseCompression(s string) (Compression, error) {
	switch Compression(s) {
	case CompressNone, CompressZstd:
		return Compression(s), nil
	}
	return "", fmt.Errorf("unknown compression %q (want zstd or none)", s)
}

// Encodings of a PageExtent (PageExtent.Encoding).
const (
	// EncodingRaw: Length bytes at Offset, exactly the memory; mappable.
	EncodingRaw = ""
	// EncodingZstd: Stored bytes at Offset are one zstd frame that
	// decompresses to the Length bytes of memory; the extent takes
	// Stored rounded up to PageSize in the file (zero padding), so the
	// next extent starts page aligned.
	EncodingZstd = "zstd"
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
// worth storing compressed: saving less than 1/32 is not worth a
// decompression at restore, and the block is stored raw (mappable).
func worthCompressing(stored, length int) bool { return stored < length-length/32 }

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

// decodeExtent decompresses one zstd extent's stored bytes into dst, which
// must be exactly the extent's Length long, and checks the result against
// dataCRC. It never allocates more than len(dst) for the output. The error
// says what is wrong, for a message naming the file and extent.
func decodeExtent(stored, dst []byte, dataCRC uint32) error {
	_, dec, err := zstdCodecs()
	if err != nil {
		return err
	}
	if len(dst) == 0 || len(dst) > MaxEncodedExtent {
		return fmt.Errorf("decompressed length %d is outside (0, %d]", len(dst), MaxEncodedExtent)
	}
	out, err := dec.DecodeAll(stored, dst[:0:len(dst)])
	if err != nil {
		return fmt.Errorf("zstd: %v", err)
	}
	if len(out) != len(dst) {
		return fmt.Errorf("zstd frame decompresses to %d bytes, the extent says %d", len(out), len(dst))
	}
	if &out[0] != &dst[0] {
		copy(dst, out) // not expected with the cap limit, but never wrong
	}
	if got := crc32c(dst); got != dataCRC {
		return fmt.Errorf("decompressed data has crc32c %s, the extent says %s", formatCRC(got), formatCRC(dataCRC))
	}
	return nil
}
