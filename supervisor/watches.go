package supervisor

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"sync"

	"github.com/crrun/crrun/seccomp"

	"golang.org/x/sys/unix"
)

// watchPaths remembers the files the app named in inotify_add_watch (a
// PathRecorders trap), by device and inode: an ordinary user's checkpoint
// cannot find a watched file from the kernel's file handle, so it looks the
// watch's inode up here.
type watchPaths struct {
	mu sync.Mutex
	m  map[[2]uint64]string
}

// maxWatchPaths bounds the memory spent on them (a file watcher over a big
// tree); the oldest are not evicted, later ones are simply not recorded.
const maxWatchPaths = 100000

// inDontFollow is IN_DONT_FOLLOW: the watch is on the link itself.
const inDontFollow = 0x02000000

// record resolves the path argument of an inotify_add_watch(fd, path, mask)
// trapped in thread tid, as that thread sees it, and keeps it by inode.
func (w *watchPaths) record(tid int, args [6]uint64, mem seccomp.MemReader) {
	var path []byte
	buf := make([]byte, 256)
	for addr := args[1]; len(path) < 4096; addr += uint64(len(buf)) {
		if err := mem(addr, buf); err != nil {
			return
		}
		if i := bytes.IndexByte(buf, 0); i >= 0 {
			path = append(path, buf[:i]...)
			break
		}
		path = append(path, buf...)
	}
	p := string(path)
	if p == "" {
		return
	}
	if !filepath.IsAbs(p) {
		cwd, err := os.Readlink("/proc/" + strconv.Itoa(tid) + "/cwd")
		if err != nil {
			return
		}
		p = filepath.Join(cwd, p)
	}
	w.add(p, args[2]&inDontFollow != 0)
}

// add records path under the inode it names now.
func (w *watchPaths) add(p string, noFollow bool) {
	var st unix.Stat_t
	stat := unix.Stat
	if noFollow {
		stat = unix.Lstat
	}
	if stat(p, &st) != nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.m == nil {
		w.m = map[[2]uint64]string{}
	}
	if len(w.m) < maxWatchPaths {
		w.m[[2]uint64{st.Dev, st.Ino}] = p
	}
}

// lookup returns the path recorded for inode (dev, ino).
func (w *watchPaths) lookup(dev, ino uint64) (string, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	p, ok := w.m[[2]uint64{dev, ino}]
	return p, ok
}
