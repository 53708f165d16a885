package procfs

import (
	"encoding/binary"
	"errors"
	"strconv"
	"sync"

	"golang.org/x/sys/unix"
)

// DefaultRoot is where procfs is mounted unless FS.Root says otherwise.
const DefaultRoot = "/proc"

// FS reads a procfs tree. The zero value reads DefaultRoot; tests set Root to a
// fabricated tree. An FS holds no state and is safe for concurrent use.
type FS struct {
	Root string // mount point of procfs; "" means DefaultRoot
}

func (f FS) root() string {
	if f.Root == "" {
		return DefaultRoot
	}
	return f.Root
}

// pidPath returns ROOT/PID/name.
func (f FS) pidPath(pid int, name string) string {
	r := f.root()
	b := make([]byte, 0, len(r)+len(name)+24)
	b = append(b, r...)
	b = append(b, '/')
	b = strconv.AppendInt(b, int64(pid), 10)
	b = append(b, '/')
	b = append(b, name...)
	return string(b)
}

// taskPath returns ROOT/PID/task/TID/name.
func (f FS) taskPath(pid, tid int, name string) string {
	r := f.root()
	b := make([]byte, 0, len(r)+len(name)+48)
	b = append(b, r...)
	b = append(b, '/')
	b = strconv.AppendInt(b, int64(pid), 10)
	b = append(b, "/task/"...)
	b = strconv.AppendInt(b, int64(tid), 10)
	b = append(b, '/')
	b = append(b, name...)
	return string(b)
}

// Buffers for whole-file reads. /proc files report size 0, so a file is read into
// a buffer that starts large enough for nearly every small file (status, stat,
// fdinfo) and grows by doubling for maps and smaps. Buffers larger than
// maxPooledBuf are dropped rather than pinned in the pool.
const (
	initialBuf   = 16 << 10
	maxPooledBuf = 4 << 20
)

var bufPool = sync.Pool{New: func() any {
	b := make([]byte, initialBuf)
	return &b
}}

func getBuf() *[]byte { return bufPool.Get().(*[]byte) }

func putBuf(b *[]byte) {
	if cap(*b) <= maxPooledBuf {
		*b = (*b)[:cap(*b)]
		bufPool.Put(b)
	}
}

// openRead opens path read-only, retrying EINTR.
func openRead(path string, flags int) (int, error) {
	for {
		fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC|flags, 0)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return -1, pathErr("open", path, err)
		}
		return fd, nil
	}
}

// readFile reads the whole of path into a pooled buffer and returns the buffer and
// the length read. The caller must putBuf the buffer and must not keep slices of
// it. seq_file-backed files return at most about a page per read(2), so the loop
// reads until EOF; small files take one read plus the EOF read.
func readFile(path string) (*[]byte, int, error) {
	fd, err := openRead(path, 0)
	if err != nil {
		return nil, 0, err
	}
	defer unix.Close(fd)
	bp := getBuf()
	buf := *bp
	n := 0
	for {
		if n == len(buf) {
			nb := make([]byte, 2*len(buf))
			copy(nb, buf[:n])
			buf = nb
			*bp = buf
		}
		m, err := unix.Read(fd, buf[n:])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			putBuf(bp)
			return nil, 0, pathErr("read", path, err)
		}
		if m == 0 {
			return bp, n, nil
		}
		n += m
	}
}

// withFile calls parse on the whole content of path.
func withFile[T any](path string, parse func(data []byte) (T, error)) (T, error) {
	bp, n, err := readFile(path)
	if err != nil {
		var zero T
		return zero, err
	}
	defer putBuf(bp)
	return parse((*bp)[:n])
}

// readlink reads a symbolic link (or a /proc magic link) without allocating more
// than the result.
func readlink(path string) (string, error) {
	var small [256]byte
	buf := small[:]
	for {
		n, err := unix.Readlink(path, buf)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return "", pathErr("readlink", path, err)
		}
		if n < len(buf) {
			return string(buf[:n]), nil
		}
		buf = make([]byte, 2*len(buf))
	}
}

// readDirInts lists the entries of dir whose names are decimal integers (pids,
// tids, fd numbers), in directory order. It uses getdents64 directly: no name
// strings are allocated, and "." and ".." are skipped by failing to parse.
func readDirInts(dir string, dst []int) ([]int, error) {
	fd, err := openRead(dir, unix.O_DIRECTORY)
	if err != nil {
		return dst, err
	}
	defer unix.Close(fd)
	bp := getBuf()
	defer putBuf(bp)
	buf := *bp
	for {
		n, err := unix.Getdents(fd, buf)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return dst, pathErr("getdents64", dir, err)
		}
		if n == 0 {
			return dst, nil
		}
		// struct linux_dirent64 { u64 d_ino; s64 d_off; u16 d_reclen; u8 d_type;
		// char d_name[]; } — NUL-terminated name, records 8-byte aligned.
		for off := 0; off+19 <= n; {
			reclen := int(binary.LittleEndian.Uint16(buf[off+16:]))
			if reclen == 0 || off+reclen > n {
				return dst, parseErr(dir, 0, "bad dirent record length %d", reclen)
			}
			name := buf[off+19 : off+reclen]
			for i, c := range name {
				if c == 0 {
					name = name[:i]
					break
				}
			}
			if v, ok := parseDec(name); ok && len(name) > 0 {
				dst = append(dst, int(v))
			}
			off += reclen
		}
	}
}

// readDirNames lists the names in dir except "." and "..".
func readDirNames(dir string) ([]string, error) {
	fd, err := openRead(dir, unix.O_DIRECTORY)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	var names []string
	buf := make([]byte, 4096)
	for {
		n, err := unix.Getdents(fd, buf)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, pathErr("getdents64", dir, err)
		}
		if n == 0 {
			return names, nil
		}
		_, _, names = unix.ParseDirent(buf[:n], -1, names)
	}
}

// isNotExist reports whether err means the file (or its process) is gone.
func isNotExist(err error) bool {
	return errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ESRCH)
}
