package image

import (
	"fmt"
	"path/filepath"
	"slices"
	"sort"
	"strings"
)

// Limits on what a valid image may describe.
const (
	// maxUserAddr bounds user addresses (5-level paging user space is 2^56).
	maxUserAddr = 1 << 57
	// maxXStateLen bounds one thread's xstate buffer (AMX state is ~11 KiB).
	maxXStateLen = 1 << 20
	// maxFD bounds fd numbers (the kernel's fs.nr_open cannot exceed it).
	maxFD = 1<<31 - 1
	// numSignals is the number of signals, and of SigHandlers entries.
	numSignals = 64
)

// Validate checks the fields of m that the format relies on. The writer
// calls it before writing image.json and the reader after decoding it.
func (m *Meta) Validate() error {
	if m.Created.IsZero() {
		return fmt.Errorf("created time is zero")
	}
	if len(m.Processes) == 0 {
		return fmt.Errorf("no processes")
	}
	seen := make(map[int]bool, len(m.Processes))
	for _, pid := range m.Processes {
		if pid <= 0 {
			return fmt.Errorf("processes: invalid pid %d", pid)
		}
		if seen[pid] {
			return fmt.Errorf("processes: pid %d listed twice", pid)
		}
		seen[pid] = true
	}
	if m.MainExit != nil {
		if seen[m.Root] {
			return fmt.Errorf("root pid %d has exited (main_exit) but is in processes %v", m.Root, m.Processes)
		}
		if m.MainExit.Code < 0 || m.MainExit.Code > 255 || m.MainExit.Signal < 0 || m.MainExit.Signal > 64 {
			return fmt.Errorf("main_exit: bad status %+v", *m.MainExit)
		}
	} else if !seen[m.Root] {
		return fmt.Errorf("root pid %d is not in processes %v", m.Root, m.Processes)
	}
	if c := m.Clocks; c != nil && (c.Monotonic < 0 || c.Boottime < 0) {
		return fmt.Errorf("clocks: negative monotonic (%d ns) or boottime (%d ns)", c.Monotonic, c.Boottime)
	}
	if m.Net != "" && m.Net != "private" {
		return fmt.Errorf("net: unknown network %q", m.Net)
	}
	if m.PingGroupRange != "" {
		if err := validPingGroupRange(m.Net, m.PingGroupRange); err != nil {
			return err
		}
	}
	if m.IPC != nil {
		if err := m.IPC.Validate(); err != nil {
			return fmt.Errorf("ipc: %w", err)
		}
	}
	return nil
}

// Validate checks an IPC namespace's record: a known mode, objects only in
// a private one, ids unique per kind and in the kernel's range, blob names
// an image may hold, message sizes that add up.
func (ipc *IPC) Validate() error {
	if ipc.Mode != IPCPrivate && ipc.Mode != IPCHost {
		return fmt.Errorf("unknown mode %q", ipc.Mode)
	}
	if ipc.Mode == IPCHost && (len(ipc.Shm) > 0 || len(ipc.Sem) > 0 || len(ipc.Msg) > 0 || len(ipc.Sysctls) > 0) {
		return fmt.Errorf("objects recorded in the host's IPC namespace")
	}
	const maxID = 1<<31 - 1
	check := func(kind string, seen map[int]bool, p SysVPerm) error {
		if p.ID < 0 || p.ID > maxID || seen[p.ID] {
			return fmt.Errorf("%s: id %d invalid or listed twice", kind, p.ID)
		}
		seen[p.ID] = true
		if p.Mode&^0o3777 != 0 {
			return fmt.Errorf("%s %d: mode %o", kind, p.ID, uint32(p.Mode))
		}
		return nil
	}
	seen := map[int]bool{}
	for _, s := range ipc.Shm {
		if err := check("shm", seen, s.SysVPerm); err != nil {
			return err
		}
		if s.Size == 0 || s.Nattch < 0 || checkName(blobFileName(s.Blob)) != nil {
			return fmt.Errorf("shm %d: size %d, nattch %d, blob %q", s.ID, s.Size, s.Nattch, s.Blob)
		}
	}
	seen = map[int]bool{}
	for _, s := range ipc.Sem {
		if err := check("sem", seen, s.SysVPerm); err != nil {
			return err
		}
		if len(s.Values) > 1<<16 {
			return fmt.Errorf("sem %d: %d semaphores", s.ID, len(s.Values))
		}
	}
	seen = map[int]bool{}
	for _, q := range ipc.Msg {
		if err := check("msg", seen, q.SysVPerm); err != nil {
			return err
		}
		total := 0
		for _, msg := range q.Messages {
			if msg.Type <= 0 || msg.Size < 0 || msg.Size > 1<<26 {
				return fmt.Errorf("msg %d: a message of type %d and %d bytes", q.ID, msg.Type, msg.Size)
			}
			total += msg.Size
		}
		if (total > 0) != (q.Blob != "") || (q.Blob != "" && checkName(blobFileName(q.Blob)) != nil) {
			return fmt.Errorf("msg %d: %d bytes of texts, blob %q", q.ID, total, q.Blob)
		}
	}
	names := map[string]bool{}
	for _, q := range ipc.Mqueues {
		if q.Name == "" || q.Name == "." || q.Name == ".." || strings.ContainsAny(q.Name, "/\x00") || len(q.Name) > 255 || names[q.Name] {
			return fmt.Errorf("mqueue %q: a bad or repeated name", q.Name)
		}
		names[q.Name] = true
		if q.Mode&^0o7777 != 0 || q.MaxMsg <= 0 || q.MsgSize <= 0 || int64(len(q.Messages)) > q.MaxMsg {
			return fmt.Errorf("mqueue %q: mode %o, %d messages of %d bytes, %d queued", q.Name, uint32(q.Mode), q.MaxMsg, q.MsgSize, len(q.Messages))
		}
		for _, m := range q.Messages {
			if m.Size < 0 || int64(m.Size) > q.MsgSize {
				return fmt.Errorf("mqueue %q: a message of %d bytes", q.Name, m.Size)
			}
		}
		if (len(q.Messages) > 0) != (q.Blob != "") || (q.Blob != "" && checkName(blobFileName(q.Blob)) != nil) {
			return fmt.Errorf("mqueue %q: %d messages, blob %q", q.Name, len(q.Messages), q.Blob)
		}
	}
	return nil
}

// Validate checks the fields of p that the format relies on: identities,
// that memory mappings are page aligned, sorted and disjoint, that
// descriptor and thread ids are unique, and the size of the signal table.
// It does not judge whether the state can be restored: that is the restore
// engine's business.
func (p *Process) Validate() error {
	if p.PID <= 0 {
		return fmt.Errorf("invalid pid %d", p.PID)
	}
	if p.PPID < 0 || p.PGID < 0 || p.SID < 0 {
		return fmt.Errorf("pid %d: negative ppid %d, pgid %d or sid %d", p.PID, p.PPID, p.PGID, p.SID)
	}
	if p.Zombie != nil {
		if len(p.Threads) != 0 || len(p.Memory) != 0 || len(p.FDs) != 0 {
			return fmt.Errorf("pid %d: a zombie with threads, memory or fds", p.PID)
		}
		return nil
	}
	if len(p.Threads) == 0 {
		return fmt.Errorf("pid %d: no threads", p.PID)
	}
	tids := make(map[int]bool, len(p.Threads))
	for i := range p.Threads {
		t := &p.Threads[i]
		if t.TID <= 0 {
			return fmt.Errorf("pid %d: threads[%d]: invalid tid %d", p.PID, i, t.TID)
		}
		if tids[t.TID] {
			return fmt.Errorf("pid %d: tid %d listed twice", p.PID, t.TID)
		}
		tids[t.TID] = true
		if len(t.XState) > maxXStateLen {
			return fmt.Errorf("pid %d: tid %d: xstate of %d bytes, over the limit of %d", p.PID, t.TID, len(t.XState), maxXStateLen)
		}
	}
	if n := len(p.SigHandlers); n != 0 && n != numSignals {
		return fmt.Errorf("pid %d: %d signal handlers, want %d", p.PID, n, numSignals)
	}
	for i, sa := range p.SigHandlers {
		if sa.Signal != i+1 {
			return fmt.Errorf("pid %d: sig_handlers[%d] is for signal %d, want %d", p.PID, i, sa.Signal, i+1)
		}
	}
	for i := range p.Memory {
		v := &p.Memory[i]
		if v.Start%PageSize != 0 || v.End%PageSize != 0 || v.Start >= v.End || v.End > maxUserAddr {
			return fmt.Errorf("pid %d: memory[%d] %s-%s is not a page-aligned user range", p.PID, i, v.Start, v.End)
		}
		if i > 0 && v.Start < p.Memory[i-1].End {
			return fmt.Errorf("pid %d: memory[%d] %s-%s overlaps or is not after %s-%s",
				p.PID, i, v.Start, v.End, p.Memory[i-1].Start, p.Memory[i-1].End)
		}
		if v.Kind == "" {
			return fmt.Errorf("pid %d: memory[%d] %s-%s has no kind", p.PID, i, v.Start, v.End)
		}
		if v.Content != "" && (v.Kind != VMAFile || !v.Shared || v.File == nil || !filepath.IsAbs(v.File.Path) ||
			v.File.Deleted || checkName(blobFileName(v.Content)) != nil) {
			return fmt.Errorf("pid %d: memory[%d] %s-%s: content blob %q on what is not a shared mapping of a file by its path", p.PID, i, v.Start, v.End, v.Content)
		}
	}
	fds := make(map[int]bool, len(p.FDs))
	for i := range p.FDs {
		fd := p.FDs[i].FD
		if fd < 0 || fd > maxFD {
			return fmt.Errorf("pid %d: fds[%d]: invalid fd %d", p.PID, i, fd)
		}
		if fds[fd] {
			return fmt.Errorf("pid %d: fd %d listed twice", p.PID, fd)
		}
		fds[fd] = true
		if s := p.FDs[i].Stdio; s != nil && (*s < 0 || *s > 2) {
			return fmt.Errorf("pid %d: fd %d: stdio %d is not 0, 1 or 2", p.PID, fd, *s)
		}
		if pf := p.FDs[i].Pidfd; pf != nil && pf.Pid <= 0 {
			return fmt.Errorf("pid %d: fd %d: a pidfd of invalid pid %d", p.PID, fd, pf.Pid)
		}
		if in := p.FDs[i].Inet; in != nil {
			validate := in.Validate
			switch p.FDs[i].Kind {
			case FDRaw:
				validate = in.ValidateRaw
			case FDPing:
				validate = in.ValidatePing
			}
			if err := validate(); err != nil {
				return fmt.Errorf("pid %d: fd %d: %w", p.PID, fd, err)
			}
		}
		if pk := p.FDs[i].Packet; pk != nil {
			if err := pk.Validate(); err != nil {
				return fmt.Errorf("pid %d: fd %d: %w", p.PID, fd, err)
			}
		}
		if nl := p.FDs[i].Netlink; nl != nil {
			if err := nl.Validate(); err != nil {
				return fmt.Errorf("pid %d: fd %d: %w", p.PID, fd, err)
			}
		}
	}
	return nil
}

// findVMA returns the mapping of p containing addr, or nil.
func (p *Process) findVMA(addr uint64) *VMA {
	i := sort.Search(len(p.Memory), func(i int) bool { return uint64(p.Memory[i].End) > addr })
	if i < len(p.Memory) && uint64(p.Memory[i].Start) <= addr {
		return &p.Memory[i]
	}
	return nil
}

// extentIssue is a problem found by checkExtents, with the file to blame.
type extentIssue struct {
	file   string
	detail string
}

// checkExtents checks the page index against the processes and the sizes
// of the page files (dataFiles: name → size of every non-metadata file).
// On success it returns the extents by pid (sorted by address) and by file
// (sorted by offset).
func checkExtents(extents []PageExtent, procs map[int]*Process, dataFiles map[string]int64) (byPID map[int][]PageExtent, byFile map[string][]PageExtent, issue *extentIssue) {
	bad := func(file, format string, args ...any) *extentIssue {
		return &extentIssue{file: file, detail: fmt.Sprintf(format, args...)}
	}
	byPID = make(map[int][]PageExtent)
	byFile = make(map[string][]PageExtent)
	for i, e := range extents {
		if _, ok := procs[e.PID]; !ok {
			return nil, nil, bad(PagemapFile, "extent %d: pid %d has no process record", i, e.PID)
		}
		if e.Vaddr%PageSize != 0 || e.Offset%PageSize != 0 || e.Length == 0 || e.Length%PageSize != 0 {
			return nil, nil, bad(PagemapFile, "extent %d (pid %d at %s): vaddr, offset %d or length %d is not a non-zero multiple of the page size",
				i, e.PID, e.Vaddr, e.Offset, e.Length)
		}
		if uint64(e.Vaddr) > maxUserAddr || e.Length > maxUserAddr-uint64(e.Vaddr) || e.Offset > 1<<62 || e.Length > 1<<62 {
			return nil, nil, bad(PagemapFile, "extent %d (pid %d at %s, length %d, offset %d): out of range", i, e.PID, e.Vaddr, e.Length, e.Offset)
		}
		switch e.Encoding {
		case EncodingRaw:
			if e.Stored != 0 || e.DataCRC32C != 0 {
				return nil, nil, bad(PagemapFile, "extent %d (pid %d at %s): a raw extent with stored %d or data_crc32c %s", i, e.PID, e.Vaddr, e.Stored, e.DataCRC32C)
			}
		case EncodingZstd, EncodingZstdShuffle:
			if e.Length > MaxEncodedExtent || e.Stored == 0 || e.Stored >= e.Length {
				return nil, nil, bad(PagemapFile, "extent %d (pid %d at %s): a zstd extent of %d bytes stored in %d: want 0 < stored < length <= %d", i, e.PID, e.Vaddr, e.Length, e.Stored, MaxEncodedExtent)
			}
		case EncodingZero:
			if e.Stored != 0 || e.Offset != 0 || e.CRC32C != 0 || e.DataCRC32C != 0 {
				return nil, nil, bad(PagemapFile, "extent %d (pid %d at %s): a zero extent with offset %d, stored %d or a checksum", i, e.PID, e.Vaddr, e.Offset, e.Stored)
			}
		default:
			return nil, nil, bad(PagemapFile, "extent %d (pid %d at %s): unknown encoding %q", i, e.PID, e.Vaddr, e.Encoding)
		}
		if e.Gen != "" {
			// In another generation's page file (Manifest.Parents): inside it.
			size, ok := dataFiles[refKey(e.Gen, e.File)]
			if !ok || e.Gen == "." || e.Gen == ".." {
				return nil, nil, bad(PagemapFile, "extent %d (pid %d at %s): %q of generation %q is not a parent file listed in the manifest", i, e.PID, e.Vaddr, e.File, e.Gen)
			}
			if e.Offset > uint64(size) || e.FileSpan() > uint64(size)-e.Offset {
				return nil, nil, bad(PagemapFile, "extent %d (pid %d at %s): offset %d + %d bytes is past the end of %s/%s (%d bytes)", i, e.PID, e.Vaddr, e.Offset, e.FileSpan(), e.Gen, e.File, size)
			}
			byPID[e.PID] = append(byPID[e.PID], e)
			continue
		}
		if _, ok := dataFiles[e.File]; !ok || len(e.File) > len(blobFilePrefix) && e.File[:len(blobFilePrefix)] == blobFilePrefix {
			return nil, nil, bad(PagemapFile, "extent %d (pid %d at %s): %q is not a page file listed in the manifest", i, e.PID, e.Vaddr, e.File)
		}
		byPID[e.PID] = append(byPID[e.PID], e)
		byFile[e.File] = append(byFile[e.File], e)
	}
	// Every page file is exactly the concatenation of its extents.
	for name, list := range byFile {
		slices.SortFunc(list, func(a, b PageExtent) int { return cmpUint(a.Offset, b.Offset) })
		var pos uint64
		for _, e := range list {
			if e.Encoding == EncodingZero {
				continue // takes no room in the file
			}
			if e.Offset != pos {
				return nil, nil, bad(name, "extent of pid %d at %s starts at offset %d, want %d (extents overlap or leave a gap)", e.PID, e.Vaddr, e.Offset, pos)
			}
			pos += e.FileSpan()
		}
		if size := uint64(dataFiles[name]); pos != size {
			return nil, nil, bad(name, "the pagemap covers %d bytes but the file has %d", pos, size)
		}
	}
	// Per process: disjoint, and each extent inside one mapping.
	for pid, list := range byPID {
		slices.SortFunc(list, func(a, b PageExtent) int { return cmpUint(uint64(a.Vaddr), uint64(b.Vaddr)) })
		p := procs[pid]
		for i, e := range list {
			if i > 0 && uint64(e.Vaddr) < list[i-1].End() {
				return nil, nil, bad(PagemapFile, "pid %d: saved pages %s-%#x and %s-%#x overlap", pid, list[i-1].Vaddr, list[i-1].End(), e.Vaddr, e.End())
			}
			if v := p.findVMA(uint64(e.Vaddr)); v == nil || e.End() > uint64(v.End) {
				return nil, nil, bad(PagemapFile, "pid %d: saved pages %s-%#x are not inside one memory mapping of %s", pid, e.Vaddr, e.End(), procFileName(pid))
			}
		}
	}
	return byPID, byFile, nil
}

func cmpUint(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
