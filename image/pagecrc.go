package image

import (
	"encoding/binary"
	"io"
	"strings"
)

// Page checksum files (docs/image-format.md, "pagecrc-<pid>.bin").
//
// A generation that may become a parent (Writer.SetChainable) keeps, beside
// each page file, the CRC-32C of every PageSize bytes of it, in file order
// (raw pages, and the padded pages of compressed frames alike). A child
// generation that refers to part of a raw extent (Reader.RefPart) needs that
// part's CRC: combined from the page checksums, it costs nothing; without
// them it is read back from the parent's page file — for an app that writes
// scattered pages, nearly the whole parent, from the shared file system, at
// every checkpoint.
//
// The file is checked before it is used: folded together, its checksums must
// give the page file's CRC-32C recorded in the manifest (and its length must
// be one checksum per page of the page file). One that does not is ignored,
// and the part is read from the page file as before. A page file damaged
// after its commit, with its checksum file intact, is then caught by the
// child too: the part's CRC is of the bytes as written.

// sidecarName returns the page checksum file of page file name.
func sidecarName(name string) (string, bool) {
	mid, ok := strings.CutPrefix(name, "pages-")
	if !ok || !strings.HasSuffix(mid, ".bin") {
		return "", false
	}
	return "pagecrc-" + mid, true
}

// pageShiftTable is multiplication by x^(8·PageSize) modulo the CRC
// polynomial, a linear map, as four byte tables: combinePage is
// crc32cCombine for a second part of exactly one page, without its loops.
var pageShiftTable = func() (t [4][256]uint32) {
	op := x2nModP(PageSize, 3)
	for k := range 4 {
		for b := range 256 {
			t[k][b] = multModP(op, uint32(b)<<(8*k))
		}
	}
	return t
}()

// combinePage returns the CRC-32C of A followed by one page B, given
// crcA = CRC(A) and crcB = CRC(B).
func combinePage(crcA, crcB uint32) uint32 {
	t := &pageShiftTable
	return t[0][crcA&0xff] ^ t[1][crcA>>8&0xff] ^ t[2][crcA>>16&0xff] ^ t[3][crcA>>24] ^ crcB
}

// foldPages returns the CRC-32C of the pages whose checksums are crcs, in
// order.
func foldPages(crcs []uint32) uint32 {
	var crc uint32
	for _, c := range crcs {
		crc = combinePage(crc, c)
	}
	return crc
}

// addPageCRCs records the page checksums of block b, just written as extent
// e. A block without them (not page-sized) ends the file's sidecar. pf.mu is
// held.
func (pf *pageFile) addPageCRCs(b *block, e PageExtent) {
	if !pf.sidecar {
		return
	}
	switch b.enc {
	case EncodingRaw:
		if len(b.pages) == 0 {
			pf.sidecar, pf.pageCRCs = false, nil
			return
		}
		pf.pageCRCs = append(pf.pageCRCs, b.pages...)
	case EncodingZstd, EncodingZstdShuffle:
		// The frame's pages as written: the frame, then zeros to the page.
		for off := uint64(0); off < e.FileSpan(); off += PageSize {
			chunk := b.out[min(off, uint64(len(b.out))):min(off+PageSize, uint64(len(b.out)))]
			pf.pageCRCs = append(pf.pageCRCs, crc32cUpdate(crc32c(chunk), zeroPage[:PageSize-len(chunk)]))
		}
	}
}

// writePageCRCs writes pf's page checksum file, when it has a whole one.
func (w *Writer) writePageCRCs(pf *pageFile) error {
	name, ok := sidecarName(pf.name)
	if !pf.sidecar || !ok || int64(len(pf.pageCRCs))*PageSize != pf.size || pf.size == 0 {
		return nil
	}
	b := make([]byte, 4*len(pf.pageCRCs))
	for i, c := range pf.pageCRCs {
		binary.LittleEndian.PutUint32(b[4*i:], c)
	}
	pf.pageCRCs = nil
	return w.writeFileNoFail(name, b)
}

// pageCRCs returns the page checksums of parent file p, read once and
// checked against p's size and CRC-32C; nil when there are none or they do
// not check out.
func (r *Reader) pageCRCs(p ParentFile) []uint32 {
	name, ok := sidecarName(p.File)
	if !ok || p.Size <= 0 || p.Size%PageSize != 0 {
		return nil
	}
	key := refKey(p.Gen, name)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.sidecars == nil {
		r.sidecars = map[string][]uint32{}
	}
	if c, ok := r.sidecars[key]; ok {
		return c
	}
	r.sidecars[key] = nil // tried: not again
	f, err := openRegular(r.genDir(p.Gen), name)
	if err != nil {
		return nil
	}
	defer f.Close()
	n := p.Size / PageSize
	if fi, err := f.Stat(); err != nil || fi.Size() != 4*n {
		return nil // short or long: nothing allocated for what it claims
	}
	b := make([]byte, 4*n+1)
	if got, err := io.ReadFull(f, b); err != io.ErrUnexpectedEOF || int64(got) != 4*n {
		return nil // changed since
	}
	crcs := make([]uint32, n)
	for i := range crcs {
		crcs[i] = binary.LittleEndian.Uint32(b[4*i:])
	}
	if CRC32C(foldPages(crcs)) != p.CRC32C {
		return nil
	}
	r.sidecars[key] = crcs
	return crcs
}
