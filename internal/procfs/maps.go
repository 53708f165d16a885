package procfs

import (
	"bytes"
	"strconv"

	"golang.org/x/sys/unix"
)

// Dev is a device number split into major and minor, as maps, stat(2) and the
// NOCR reasons ("device /dev/kvm (10:232)") show it.
type Dev struct {
	Major, Minor uint32
}

// String formats the device as "major:minor" in decimal.
func (d Dev) String() string {
	return strconv.FormatUint(uint64(d.Major), 10) + ":" + strconv.FormatUint(uint64(d.Minor), 10)
}

// DevFromStat splits a userspace dev_t (stat(2)'s st_dev or st_rdev).
func DevFromStat(dev uint64) Dev {
	return Dev{Major: unix.Major(dev), Minor: unix.Minor(dev)}
}

// DevFromKernel splits the kernel-internal dev_t (MAJOR = dev>>20, MINOR = the low
// 20 bits) that fdinfo prints as "sdev:" in epoll and inotify lines.
func DevFromKernel(dev uint64) Dev {
	return Dev{Major: uint32(dev >> 20), Minor: uint32(dev & 0xfffff)}
}

// Perms are the protection and sharing of a mapping ("rw-p", "r--s").
type Perms uint8

// Permission bits of a mapping. A mapping without PermShared is private
// (copy-on-write).
const (
	PermRead Perms = 1 << iota
	PermWrite
	PermExec
	PermShared
)

// Read reports whether the mapping is readable.
func (p Perms) Read() bool { return p&PermRead != 0 }

// Write reports whether the mapping is writable.
func (p Perms) Write() bool { return p&PermWrite != 0 }

// Exec reports whether the mapping is executable.
func (p Perms) Exec() bool { return p&PermExec != 0 }

// Shared reports whether the mapping is MAP_SHARED ('s').
func (p Perms) Shared() bool { return p&PermShared != 0 }

// Private reports whether the mapping is MAP_PRIVATE ('p').
func (p Perms) Private() bool { return p&PermShared == 0 }

// String formats the permissions the way maps does.
func (p Perms) String() string {
	b := []byte("---p")
	if p.Read() {
		b[0] = 'r'
	}
	if p.Write() {
		b[1] = 'w'
	}
	if p.Exec() {
		b[2] = 'x'
	}
	if p.Shared() {
		b[3] = 's'
	}
	return string(b)
}

// Mapping is one line of /proc/PID/maps.
type Mapping struct {
	Start, End uint64 // [Start, End), page-aligned
	Perms      Perms
	Offset     uint64 // file offset of Start (page offset for anonymous mappings)
	Dev        Dev
	Inode      uint64
	// Path is the name as the kernel prints it, without a " (deleted)" suffix:
	// a file path (newlines escaped as "\012" by the kernel), "" for anonymous
	// memory, or a pseudo name: "[heap]", "[stack]", "[vdso]", "[vvar]",
	// "[vvar_vclock]", "[vsyscall]", "[anon:NAME]", "[anon_shmem:NAME]",
	// "/memfd:NAME", "/SYSV%08x", "/dev/zero" (MAP_SHARED|MAP_ANONYMOUS),
	// "/[aio]", "anon_inode:[io_uring]"...
	Path string
	// Deleted is set when the kernel appended " (deleted)": the file was unlinked
	// (memfd, shared anonymous memory and SysV segments are always "deleted").
	Deleted bool
}

// Size returns End-Start.
func (m *Mapping) Size() uint64 { return m.End - m.Start }

// IsPseudo reports whether Path is a bracketed kernel name such as "[heap]",
// "[stack]", "[vdso]", "[vvar]", "[vvar_vclock]", "[vsyscall]" or "[anon:NAME]".
func (m *Mapping) IsPseudo() bool {
	return len(m.Path) > 1 && m.Path[0] == '[' && m.Path[len(m.Path)-1] == ']'
}

// IsAnonymous reports whether the mapping has no backing file at all (private or
// shared-anonymous memory not backed by an inode; "[heap]" and "[stack]" too).
// MAP_SHARED|MAP_ANONYMOUS memory is backed by a shmem inode ("/dev/zero
// (deleted)") and is not anonymous in this sense.
func (m *Mapping) IsAnonymous() bool { return m.Inode == 0 }

const deletedSuffix = " (deleted)"

// parseMapsLine parses "start-end perms offset major:minor inode   path".
func parseMapsLine(line []byte, m *Mapping) bool {
	f, rest := nextField(line)
	dash := bytes.IndexByte(f, '-')
	if dash < 0 {
		return false
	}
	var ok1, ok2 bool
	m.Start, ok1 = parseHex(f[:dash])
	m.End, ok2 = parseHex(f[dash+1:])
	if !ok1 || !ok2 || m.End < m.Start {
		return false
	}
	f, rest = nextField(rest)
	if len(f) != 4 {
		return false
	}
	m.Perms = 0
	for i, want := range [3]byte{'r', 'w', 'x'} {
		switch f[i] {
		case want:
			m.Perms |= 1 << i
		case '-':
		default:
			return false
		}
	}
	switch f[3] {
	case 's':
		m.Perms |= PermShared
	case 'p':
	default:
		return false
	}
	f, rest = nextField(rest)
	var ok bool
	if m.Offset, ok = parseHex(f); !ok {
		return false
	}
	f, rest = nextField(rest)
	colon := bytes.IndexByte(f, ':')
	if colon < 0 {
		return false
	}
	maj, ok1 := parseHex(f[:colon])
	min, ok2 := parseHex(f[colon+1:])
	if !ok1 || !ok2 || maj > 1<<32-1 || min > 1<<32-1 {
		return false
	}
	m.Dev = Dev{uint32(maj), uint32(min)}
	f, rest = nextField(rest)
	if m.Inode, ok = parseDec(f); !ok {
		return false
	}
	// The path starts after the padding and runs to the end of the line; it may
	// contain blanks of its own.
	for len(rest) > 0 && isSpace(rest[0]) {
		rest = rest[1:]
	}
	m.Deleted = false
	if bytes.HasSuffix(rest, []byte(deletedSuffix)) {
		rest = rest[:len(rest)-len(deletedSuffix)]
		m.Deleted = true
	}
	m.Path = internPath(rest)
	return true
}

// internPath avoids allocating for the most common pseudo names.
func internPath(b []byte) string {
	switch string(b) {
	case "":
		return ""
	case "[heap]":
		return "[heap]"
	case "[stack]":
		return "[stack]"
	case "[vdso]":
		return "[vdso]"
	case "[vvar]":
		return "[vvar]"
	case "[vvar_vclock]":
		return "[vvar_vclock]"
	case "[vsyscall]":
		return "[vsyscall]"
	}
	return string(b)
}

// Maps parses /proc/PID/maps.
func (f FS) Maps(pid int) ([]Mapping, error) {
	path := f.pidPath(pid, "maps")
	return withFile(path, func(data []byte) ([]Mapping, error) {
		return parseMaps(path, data)
	})
}

// Maps parses /proc/PID/maps with the default FS.
func Maps(pid int) ([]Mapping, error) { return FS{}.Maps(pid) }

func parseMaps(path string, data []byte) ([]Mapping, error) {
	out := make([]Mapping, 0, bytes.Count(data, []byte{'\n'})+1)
	for n := 1; len(data) > 0; n++ {
		var line []byte
		line, data = cutLine(data)
		if len(line) == 0 {
			continue
		}
		out = append(out, Mapping{})
		if !parseMapsLine(line, &out[len(out)-1]) {
			return nil, parseErr(path, n, "bad maps line %q", line)
		}
	}
	return out, nil
}
