package image

import (
	"fmt"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/klauspost/compress/zstd"
	"golang.org/x/sys/unix"
)

// The page-writing pipeline. AddPages cuts its data into blocks of
// BlockSize and hands them, in order, to two places: the writer's pool of
// workers (one per CPU), which checksum each block and, when compressing,
// detect zero blocks and compress the others; and the page file's own
// writer goroutine, which takes the blocks back in order, waits for each
// to be processed, and appends them to the file with large writev(2)s.
// The number of blocks in flight is bounded (maxInFlight), so memory is
// too: at most maxInFlight blocks of source and of compressed output.
// Nothing waits for the disk before Commit, which fdatasyncs each page file
// once.

// maxInFlight bounds the blocks between AddPages and the page files.
func maxInFlight() int { return 4*runtime.GOMAXPROCS(0) + 8 }

// maxWritev bounds one writev: iovecs and bytes.
const (
	maxWritevIovecs = 256
	maxWritevBytes  = 16 << 20
	// minEarlyFlush is the least a batch holds before the writer writes
	// it to wait for a block still being compressed.
	minEarlyFlush = 256 << 10
	// smallProbeEvery: in a stream whose blocks have not compressed
	// lately, one block too small to sample in this many is compressed.
	smallProbeEvery = 16
	// With CompressAuto, once autoMissesToSkip samples in a row did not
	// halve, a block is sampled only one time in autoProbeEvery; the
	// others are stored raw (zero blocks are still found). A sample is
	// 1/16 of a block compressed, which an array of doubles pays in full
	// (it shrinks, but not by half): measured on the 2-CPU VM, 1 GiB of
	// memhog's doubles took 1.41 s durable with auto against 1.09 s raw
	// (docs/benchmarks.md). A stream that turns compressible is found at
	// the next probe, within autoProbeEvery blocks.
	autoMissesToSkip = 4
	autoProbeEvery   = 8
)

// A block is one piece of an AddPages call on its way to the page file.
type block struct {
	pf    *pageFile
	pid   int
	vaddr uint64
	src   []byte // the memory (the caller's buffer: read only)
	group *group
	comp  Compression

	done chan struct{} // closed by the worker
	// Set by the worker:
	enc    string
	out    []byte   // the zstd frame (EncodingZstd)
	crc    uint32   // of src
	outCRC uint32   // of out
	pages  []uint32 // the CRC-32C of each page of src, when raw and the file has a sidecar
}

// A group is the blocks of one AddPages call: release runs when the
// pipeline no longer reads any of them.
type group struct {
	left    atomic.Int64
	release func()
}

func (g *group) done() {
	if g.left.Add(-1) == 0 && g.release != nil {
		g.release()
	}
}

// pipeline is the writer's pool of workers.
type pipeline struct {
	work  chan *block   // to the workers
	slots chan struct{} // one per block in flight
	wg    sync.WaitGroup
	outs  sync.Pool // *[]byte of cap BlockSize, compressed output
}

func (w *Writer) startPipeline() *pipeline {
	// w.mu is held.
	if w.pipe != nil {
		return w.pipe
	}
	n := maxInFlight()
	p := &pipeline{work: make(chan *block, n), slots: make(chan struct{}, n)}
	for range runtime.GOMAXPROCS(0) {
		p.wg.Add(1)
		go p.worker()
	}
	w.pipe = p
	return p
}

func (p *pipeline) worker() {
	defer p.wg.Done()
	for b := range p.work {
		b.process(p)
		close(b.done)
	}
}

// process checksums a block and chooses how to store it.
func (b *block) process(p *pipeline) {
	if b.comp != CompressZstd && b.comp != CompressAuto {
		b.rawCRC()
		return
	}
	if allZero(b.src) {
		b.enc = EncodingZero
		return
	}
	enc, _, err := zstdCodecs()
	if err != nil {
		b.rawCRC()
		return
	}
	sp := p.getOut()
	defer p.putOut(sp)
	auto := b.comp == CompressAuto
	if len(b.src) < 2*sampleSize && b.pf.incompressible.Load() >= 4 && b.pf.smallProbes.Add(1)%smallProbeEvery != 0 {
		// Too small to sample, in a stream incompressible lately (the
		// scattered pages an incremental checkpoint saves of an app's
		// random data): stored raw, but for one block in
		// smallProbeEvery, which is tried, and resets the stream to
		// compressing when it compresses.
		b.rawCRC()
		return
	}
	if (auto || b.pf.incompressible.Load() >= 4) && len(b.src) >= 2*sampleSize {
		// Auto, or this stream has been incompressible lately: try a
		// sample from the middle of the block before compressing all
		// of it; with auto in a stream whose samples have not halved
		// lately, only one block in autoProbeEvery.
		if auto && b.pf.sampleMisses.Load() >= autoMissesToSkip && b.pf.sampleSkips.Add(1)%autoProbeEvery != 0 {
			b.rawCRC()
			return
		}
		b.pf.sampled.Add(1)
		mid := (len(b.src)/2 - sampleSize/2) &^ (PageSize - 1)
		shuffled := (*sp)[:sampleSize]
		shuffle8(shuffled, b.src[mid:mid+sampleSize])
		bp := p.getOut()
		out := encodePlanes(enc, shuffled, (*bp)[:0])
		ok := worthCompressing(len(out), sampleSize)
		if auto {
			ok = len(out) <= sampleSize/autoSampleRatio
		}
		p.putOut(bp)
		if !ok {
			if auto {
				b.pf.sampleMisses.Add(1)
			}
			b.rawCRC()
			return
		}
		b.pf.sampleMisses.Store(0)
	}
	shuffled := (*sp)[:len(b.src)]
	shuffle8(shuffled, b.src)
	bp := p.getOut()
	out := encodePlanes(enc, shuffled, (*bp)[:0])
	if !worthCompressing(len(out), len(b.src)) {
		p.putOut(bp)
		b.pf.incompressible.Add(1)
		b.rawCRC()
		return
	}
	b.pf.incompressible.Store(0)
	b.enc = EncodingZstdShuffle
	b.out = out
	b.crc = crc32c(b.src)
	b.outCRC = crc32c(out)
}

// rawCRC checksums a block stored raw; for a page file with a page
// checksum file (pagecrc.go), page by page, the block's CRC combined from
// them.
func (b *block) rawCRC() {
	if !b.pf.wantPages || len(b.src)%PageSize != 0 {
		b.crc = crc32c(b.src)
		return
	}
	b.pages = make([]uint32, len(b.src)/PageSize)
	var crc uint32
	for i := range b.pages {
		c := crc32c(b.src[i*PageSize : (i+1)*PageSize])
		b.pages[i] = c
		crc = combinePage(crc, c)
	}
	b.crc = crc
}

func (p *pipeline) getOut() *[]byte {
	if bp, ok := p.outs.Get().(*[]byte); ok {
		return bp
	}
	b := make([]byte, 0, BlockSize+BlockSize/8)
	return &b // big enough for a block, shuffled or compressed
}

func (p *pipeline) putOut(bp *[]byte) {
	if cap(*bp) >= BlockSize {
		p.outs.Put(bp)
	}
}

// submit queues data (the caller's, read only until g releases it) as
// blocks of pf, in order. It returns an error, with nothing of data
// queued but what went before, if the writer failed.
func (w *Writer) submit(pf *pageFile, pid int, vaddr uint64, data []byte, g *group) error {
	nblocks := (len(data) + BlockSize - 1) / BlockSize
	g.left.Store(int64(nblocks) + 1) // +1: submit's own, dropped at the end
	defer g.done()
	if nblocks == 0 {
		return nil
	}
	w.mu.Lock()
	comp := w.compress
	p := w.pipe
	w.mu.Unlock()
	pf.qmu.Lock()
	defer pf.qmu.Unlock()
	for off := 0; off < len(data); off += BlockSize {
		if pf.qclosed {
			// The blocks not queued are released here.
			g.left.Add(-int64((len(data) - off + BlockSize - 1) / BlockSize))
			w.mu.Lock()
			defer w.mu.Unlock()
			if err := w.usable(); err != nil {
				return err
			}
			return fmt.Errorf("image: %s: writer is closed", w.tmp)
		}
		end := min(off+BlockSize, len(data))
		b := &block{pf: pf, pid: pid, vaddr: vaddr + uint64(off), src: data[off:end:end], group: g, comp: comp, done: make(chan struct{})}
		p.slots <- struct{}{}
		p.work <- b
		pf.queue <- b
	}
	return nil
}

// closeQueue stops new blocks for pf; its writer goroutine ends once it
// has written (or, after a failure, dropped) the queued ones.
func (pf *pageFile) closeQueue() {
	pf.qmu.Lock()
	if !pf.qclosed {
		pf.qclosed = true
		close(pf.queue)
	}
	pf.qmu.Unlock()
}

// loop is pf's writer goroutine: it appends the blocks in order, several
// per writev, and releases each block's source as soon as nothing reads it
// any more (once processed for a zero or compressed block, once written
// for a raw one).
func (w *Writer) loop(pf *pageFile, p *pipeline) {
	defer close(pf.loopDone)
	var batch []*block
	iovs := make([][]byte, 0, maxWritevIovecs)
	size, niov := 0, 0
	flush := func() {
		if len(batch) == 0 {
			return
		}
		w.writeBatch(pf, batch, iovs[:0])
		for _, b := range batch {
			if b.out != nil {
				bp := b.out[:0]
				p.putOut(&bp)
				b.out = nil
			}
			if b.enc == EncodingRaw {
				b.group.done()
			}
			b.src = nil
			<-p.slots
		}
		clear(batch)
		batch = batch[:0]
		size, niov = 0, 0
	}
	for b := range pf.queue {
		select {
		case <-b.done:
		default:
			// Write what is ready while this one is processed, unless
			// that is little: many small blocks (scattered pages) would
			// otherwise go out one write each.
			if size >= minEarlyFlush {
				flush()
			}
			<-b.done
		}
		if b.enc != EncodingRaw {
			b.group.done() // the source is no longer read
		}
		batch = append(batch, b)
		switch b.enc {
		case EncodingRaw:
			size += len(b.src)
		case EncodingZstdShuffle:
			size += len(b.out)
		}
		niov += 2
		if niov+2 > maxWritevIovecs || size >= maxWritevBytes || len(pf.queue) == 0 {
			flush()
		}
	}
	flush()
}

// writeBatch appends the blocks to pf's file with writev and records their
// extents. After a failure of the writer it drops them.
func (w *Writer) writeBatch(pf *pageFile, batch []*block, iovs [][]byte) {
	pf.mu.Lock()
	if pf.f == nil || pf.broken {
		pf.mu.Unlock()
		return
	}
	var n int
	for _, b := range batch {
		switch b.enc {
		case EncodingRaw:
			iovs = append(iovs, b.src)
			n += len(b.src)
		case EncodingZstd, EncodingZstdShuffle:
			span := int(alignUp(uint64(len(b.out))))
			if span <= cap(b.out) {
				// Padded in its own buffer: one page-aligned iovec,
				// which O_DIRECT takes.
				padded := b.out[:span]
				clear(padded[len(b.out):])
				iovs = append(iovs, padded)
			} else {
				iovs = append(iovs, b.out, zeroPage[:span-len(b.out)])
			}
			n += span
		}
	}
	off := pf.size
	direct, err := pf.pwrite(iovs, n, off)
	if direct {
		w.directBytes.Add(int64(n))
	}
	if err != nil {
		pf.broken = true
		b := batch[0]
		pf.err = ioError("writing", filepath.Join(w.tmp, pf.name), err, fmt.Sprintf("pages of pid %d from %#x, %d bytes at offset %d", b.pid, b.vaddr, n, off))
		err = pf.err
		pf.mu.Unlock()
		// Not from this goroutine: fail waits for submitters, which may
		// wait for this goroutine to free a slot. Commit returns pf.err.
		go w.fail(err)
		return
	}
	var memory int64
	pos := uint64(off)
	for _, b := range batch {
		e := PageExtent{PID: b.pid, Vaddr: Hex(b.vaddr), Length: uint64(len(b.src)), File: pf.name, Encoding: b.enc}
		switch b.enc {
		case EncodingRaw:
			e.Offset, e.CRC32C = pos, CRC32C(b.crc)
			pf.crc = crc32cCombine(pf.crc, b.crc, e.Length)
		case EncodingZstd, EncodingZstdShuffle:
			e.Offset, e.Stored, e.CRC32C, e.DataCRC32C = pos, uint64(len(b.out)), CRC32C(b.outCRC), CRC32C(b.crc)
			pf.crc = crc32cCombine(pf.crc, b.outCRC, e.Stored)
			pf.crc = crc32cUpdate(pf.crc, zeroPage[:e.FileSpan()-e.Stored])
		}
		pos += e.FileSpan()
		pf.addPageCRCs(b, e)
		pf.extents = append(pf.extents, e)
		memory += int64(e.Length)
	}
	pf.size = int64(pos)
	pf.mu.Unlock()
	w.written.Add(memory)
}

// pwritevAll writes all n bytes of iovs at off, going on after short
// writes.
func pwritevAll(fd int, iovs [][]byte, n int, off int64) error {
	for n > 0 {
		m, err := unix.Pwritev(fd, iovs, off)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		if m == 0 {
			return unix.EIO
		}
		n -= m
		off += int64(m)
		for m > 0 {
			if m >= len(iovs[0]) {
				m -= len(iovs[0])
				iovs = iovs[1:]
			} else {
				iovs[0] = iovs[0][m:]
				m = 0
			}
		}
		for len(iovs) > 0 && len(iovs[0]) == 0 {
			iovs = iovs[1:]
		}
	}
	return nil
}

// encodePlanes compresses the 8 byte planes of a shuffled block as 8 zstd
// frames, one after the other, appended to dst. A plane (128 KiB of a
// 1 MiB block) fits one zstd block, which the encoder compresses without
// keeping a history: twice as fast as one frame of the whole block
// (measured 938 against 440 MB per CPU-second on memhog's doubles), for a
// slightly larger result (75 % against 69 %).
func encodePlanes(enc *zstd.Encoder, shuffled, dst []byte) []byte {
	n := len(shuffled) / 8
	for k := range 8 {
		dst = enc.EncodeAll(shuffled[k*n:(k+1)*n], dst)
	}
	return dst
}
