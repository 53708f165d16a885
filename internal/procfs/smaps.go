package procfs

import (
	"bytes"
	"sort"
	"strings"
)

// VmFlags is the set of two-letter flags of a mapping, from the "VmFlags:" line of
// smaps. proc(5) lists them; the ones crrun cares about most:
//
//	rd wr ex sh  readable, writable, executable, shared
//	mr mw me ms  may read, may write, may execute, may share (mprotect ceiling)
//	gd  stack segment grows down      pf  pure PFN range (VM_PFNMAP)
//	io  memory-mapped I/O             lo  pages locked (mlock)
//	dc  do not copy on fork           de  do not expand on mremap
//	ac  accountable                   nr  swap space not reserved (MAP_NORESERVE)
//	ht  hugetlb                       dd  excluded from core dumps (MADV_DONTDUMP)
//	wf  wipe on fork                  sd  soft-dirty
//	mm  mixed map                     hg, nh  MADV_HUGEPAGE, MADV_NOHUGEPAGE
//	mg  mergeable (KSM)               um, uw, ui  userfaultfd missing, wp, minor
//	ss  shadow stack                  sl  sealed (mseal)
//	lf  lock on fault (MCL_ONFAULT)   sr, rr  sequential, random read advice
//	dw  disabled write to the file    sf  synchronous page faults (DAX)
//
// Every flag made of two lowercase letters is held in a fixed bitmap (no
// allocation); anything else a future kernel might print is kept in a list.
type VmFlags struct {
	bits  [(26*26 + 63) / 64]uint64
	other []string
}

func vmFlagIndex(f string) (int, bool) {
	if len(f) != 2 || f[0] < 'a' || f[0] > 'z' || f[1] < 'a' || f[1] > 'z' {
		return 0, false
	}
	return int(f[0]-'a')*26 + int(f[1]-'a'), true
}

// Has reports whether flag (such as "gd") is set.
func (v *VmFlags) Has(flag string) bool {
	if i, ok := vmFlagIndex(flag); ok {
		return v.bits[i/64]&(1<<(i%64)) != 0
	}
	for _, o := range v.other {
		if o == flag {
			return true
		}
	}
	return false
}

// Add sets flag.
func (v *VmFlags) Add(flag string) {
	if i, ok := vmFlagIndex(flag); ok {
		v.bits[i/64] |= 1 << (i % 64)
		return
	}
	if !v.Has(flag) {
		v.other = append(v.other, flag)
	}
}

func (v *VmFlags) addBytes(flag []byte) {
	if len(flag) == 2 && flag[0] >= 'a' && flag[0] <= 'z' && flag[1] >= 'a' && flag[1] <= 'z' {
		i := int(flag[0]-'a')*26 + int(flag[1]-'a')
		v.bits[i/64] |= 1 << (i % 64)
		return
	}
	v.Add(string(flag))
}

// List returns the flags in sorted order.
func (v *VmFlags) List() []string {
	var out []string
	for w, word := range v.bits {
		for word != 0 {
			b := 0
			for word&(1<<b) == 0 {
				b++
			}
			word &^= 1 << b
			i := w*64 + b
			out = append(out, string([]byte{byte('a' + i/26), byte('a' + i%26)}))
		}
	}
	out = append(out, v.other...)
	sort.Strings(out)
	return out
}

// String returns the flags space-separated, sorted.
func (v *VmFlags) String() string { return strings.Join(v.List(), " ") }

// SmapsEntry is one mapping of /proc/PID/smaps. Sizes are in bytes (smaps prints
// kB).
type SmapsEntry struct {
	Mapping
	Size           uint64
	KernelPageSize uint64
	MMUPageSize    uint64
	Rss            uint64
	Pss            uint64
	PssDirty       uint64
	SharedClean    uint64
	SharedDirty    uint64
	PrivateClean   uint64
	PrivateDirty   uint64
	Referenced     uint64
	Anonymous      uint64
	KSM            uint64
	LazyFree       uint64
	AnonHugePages  uint64
	ShmemPmdMapped uint64
	FilePmdMapped  uint64
	SharedHugetlb  uint64
	PrivateHugetlb uint64
	Swap           uint64
	SwapPss        uint64
	Locked         uint64
	THPEligible    bool
	ProtectionKey  int
	VmFlags        VmFlags
}

// HasFlag reports whether the mapping's VmFlags contain flag (such as "gd").
func (e *SmapsEntry) HasFlag(flag string) bool { return e.VmFlags.Has(flag) }

// Smaps parses /proc/PID/smaps. Reading smaps walks the page tables of every
// mapping in the kernel, so it costs much more than Maps.
func (f FS) Smaps(pid int) ([]SmapsEntry, error) {
	path := f.pidPath(pid, "smaps")
	return withFile(path, func(data []byte) ([]SmapsEntry, error) {
		return parseSmaps(path, data)
	})
}

// Smaps parses /proc/PID/smaps with the default FS.
func Smaps(pid int) ([]SmapsEntry, error) { return FS{}.Smaps(pid) }

func parseSmaps(path string, data []byte) ([]SmapsEntry, error) {
	var out []SmapsEntry
	var cur *SmapsEntry
	for n := 1; len(data) > 0; n++ {
		var line []byte
		line, data = cutLine(data)
		if len(line) == 0 {
			continue
		}
		first, _ := nextField(line)
		if len(first) == 0 || first[len(first)-1] != ':' {
			// A header: "start-end perms offset dev inode path".
			out = append(out, SmapsEntry{})
			cur = &out[len(out)-1]
			if !parseMapsLine(line, &cur.Mapping) {
				return nil, parseErr(path, n, "bad smaps header %q", line)
			}
			continue
		}
		if cur == nil {
			return nil, parseErr(path, n, "field before the first mapping: %q", line)
		}
		key, value, _ := cutKey(line)
		if string(key) == "VmFlags" {
			for {
				var fl []byte
				fl, value = nextField(value)
				if len(fl) == 0 {
					break
				}
				cur.VmFlags.addBytes(fl)
			}
			continue
		}
		var dst *uint64
		switch string(key) {
		case "Size":
			dst = &cur.Size
		case "KernelPageSize":
			dst = &cur.KernelPageSize
		case "MMUPageSize":
			dst = &cur.MMUPageSize
		case "Rss":
			dst = &cur.Rss
		case "Pss":
			dst = &cur.Pss
		case "Pss_Dirty":
			dst = &cur.PssDirty
		case "Shared_Clean":
			dst = &cur.SharedClean
		case "Shared_Dirty":
			dst = &cur.SharedDirty
		case "Private_Clean":
			dst = &cur.PrivateClean
		case "Private_Dirty":
			dst = &cur.PrivateDirty
		case "Referenced":
			dst = &cur.Referenced
		case "Anonymous":
			dst = &cur.Anonymous
		case "KSM":
			dst = &cur.KSM
		case "LazyFree":
			dst = &cur.LazyFree
		case "AnonHugePages":
			dst = &cur.AnonHugePages
		case "ShmemPmdMapped":
			dst = &cur.ShmemPmdMapped
		case "FilePmdMapped":
			dst = &cur.FilePmdMapped
		case "Shared_Hugetlb":
			dst = &cur.SharedHugetlb
		case "Private_Hugetlb":
			dst = &cur.PrivateHugetlb
		case "Swap":
			dst = &cur.Swap
		case "SwapPss":
			dst = &cur.SwapPss
		case "Locked":
			dst = &cur.Locked
		case "THPeligible":
			v, ok := parseDec(value)
			if !ok {
				return nil, parseErr(path, n, "bad THPeligible %q", value)
			}
			cur.THPEligible = v != 0
			continue
		case "ProtectionKey":
			v, ok := parseInt(value)
			if !ok {
				return nil, parseErr(path, n, "bad ProtectionKey %q", value)
			}
			cur.ProtectionKey = int(v)
			continue
		default:
			continue // a field this package does not know yet
		}
		v, ok := parseKB(value)
		if !ok {
			return nil, parseErr(path, n, "bad %s value %q", key, value)
		}
		*dst = v
	}
	return out, nil
}

// parseKB parses "1234 kB" into bytes.
func parseKB(value []byte) (uint64, bool) {
	num, rest := nextField(value)
	v, ok := parseDec(num)
	if !ok {
		return 0, false
	}
	unit, _ := nextField(rest)
	switch {
	case len(unit) == 0:
		return v, true
	case bytes.Equal(unit, []byte("kB")):
		return v << 10, true
	}
	return 0, false
}

// SmapsText is Smaps that also returns the text it parsed (for a caller
// that would read the file again: each read walks the page tables).
func SmapsText(pid int) ([]byte, []SmapsEntry, error) {
	path := FS{}.pidPath(pid, "smaps")
	var text []byte
	ents, err := withFile(path, func(data []byte) ([]SmapsEntry, error) {
		text = append([]byte(nil), data...)
		return parseSmaps(path, data)
	})
	return text, ents, err
}
