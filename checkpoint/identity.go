package checkpoint

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/crrun/crrun/image"

	"golang.org/x/sys/unix"
)

// Content hashes of files (image.FileIdentity.SHA256): the executable
// whatever its size, other regular files up to image.HashLimit. Size and
// mtime alone accept a patched binary (touch -r puts the mtime back).

// hashKey is what must not change for a cached hash to stay valid: ctime
// moves with every write, so a file with the same key has the same content.
type hashKey struct {
	dev, ino, size uint64
	mtime, ctime   time.Time
}

// hashCache keeps hashes across the checkpoints of one crrun (periodic
// checkpoints would hash the same executable each time).
var hashCache sync.Map // hashKey → string

// pseudo file systems whose "files" are generated on read: never hashed.
var pseudoFS = map[int64]bool{unix.PROC_SUPER_MAGIC: true, unix.SYSFS_MAGIC: true, unix.DEBUGFS_MAGIC: true,
	unix.TRACEFS_MAGIC: true, unix.CGROUP_SUPER_MAGIC: true, unix.CGROUP2_SUPER_MAGIC: true,
	unix.SECURITYFS_MAGIC: true, 0x62656570 /* configfs */ : true, unix.BPF_FS_MAGIC: true}

// hashIdentity fills id.SHA256 by reading via (a path that opens the very
// file: /proc/PID/exe, /proc/PID/map_files/..., /proc/PID/fd/N, or the
// path). Only a regular file of the identity's device and inode is read,
// and only if it is the executable (exe) or at most image.HashLimit bytes.
// A file crrun cannot read (an ordinary user's execute-only binary) keeps
// no hash: restore then relies on size, mtime and ctime.
func hashIdentity(id *image.FileIdentity, via string, exe bool) {
	if id == nil || id.Deleted || uint32(id.Mode)&unix.S_IFMT != unix.S_IFREG || id.Size <= 0 || (!exe && id.Size > image.HashLimit) {
		return
	}
	key := hashKey{dev: uint64(id.Dev), ino: id.Inode, size: uint64(id.Size), mtime: id.Mtime, ctime: id.Ctime}
	if h, ok := hashCache.Load(key); ok {
		id.SHA256 = h.(string)
		return
	}
	f, err := os.OpenFile(via, os.O_RDONLY|syscall.O_NONBLOCK|syscall.O_NOCTTY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return
	}
	defer f.Close()
	var st unix.Stat_t
	var sfs unix.Statfs_t
	if unix.Fstat(int(f.Fd()), &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFREG || st.Ino != id.Inode ||
		image.MakeDev(unix.Major(st.Dev), unix.Minor(st.Dev)) != id.Dev || st.Size != id.Size ||
		unix.Fstatfs(int(f.Fd()), &sfs) != nil || pseudoFS[int64(sfs.Type)] {
		return
	}
	h := sha256.New()
	if n, err := io.Copy(h, io.NewSectionReader(f, 0, st.Size)); err != nil || n != st.Size {
		return
	}
	// Kept only if the file did not change while it was read.
	var after unix.Stat_t
	if unix.Fstat(int(f.Fd()), &after) != nil || after.Ctim != st.Ctim || after.Size != st.Size {
		return
	}
	id.SHA256 = hex.EncodeToString(h.Sum(nil))
	hashCache.Store(key, id.SHA256)
}
