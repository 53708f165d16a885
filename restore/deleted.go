package restore

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/crrun/crrun/image"

	"golang.org/x/sys/unix"
)

// Deleted files, directories, FIFOs and device nodes (checkpoint/deleted.go).
// Each deleted object is brought back once per inode: recreated under its
// old name if that name is free (so the app's fds and maps show the same
// "<path> (deleted)" on the same file system), else in TempDir; its data
// runs are written and holes left as holes. Every fd, mapping and working
// directory of the tree is opened on it during the restore; then, before the
// app runs, it gets its saved owner, mode and times and its name is removed
// again (finishUnlinked). An inode that still had other names is not
// recreated: its file handle opens it and a temporary hard link gives the
// app a path to open.

// unlinkedObj is one deleted object brought back for the restore.
type unlinkedObj struct {
	path string // where the app opens it until finishUnlinked removes it
	id   *image.FileIdentity
	link bool // a hard link to a surviving inode: only the name goes
}

// deletedPath returns the path the app opens the deleted object id at
// (recreated once per inode). blob holds a regular file's data runs. An
// image without Unlinked (an older crrun) gets the old behaviour: the blob's
// content in a new file.
func (t *treeRestorer) deletedPath(id *image.FileIdentity, blob string) (string, error) {
	u := id.Unlinked
	if u == nil {
		if blob == "" {
			return "", fmt.Errorf("%s: deleted, with nothing saved to recreate it from", id.Path)
		}
		return t.blobFile(blob)
	}
	key := fmt.Sprintf("unlinked:%d:%d", id.Dev, id.Inode)
	if p, ok := t.blobs[key]; ok {
		return p, nil
	}
	var o *unlinkedObj
	var err error
	if u.Handle != nil {
		o, err = t.linkByHandle(id)
	} else {
		o, err = t.recreate(id, blob)
	}
	if err != nil {
		return "", fmt.Errorf("deleted %s: %w", id.Path, err)
	}
	t.blobs[key] = o.path
	t.deleted = append(t.deleted, o)
	path := o.path
	t.cleanup = append(t.cleanup, func() { // after a failure; finishUnlinked removed them otherwise
		if unix.Rmdir(path) != nil {
			_ = unix.Unlink(path)
		}
	})
	return o.path, nil
}

// names tries the deleted object's own name first, then fresh names in
// TempDir, calling make until one is free.
func (t *treeRestorer) names(id *image.FileIdentity, make func(string) error) (string, error) {
	if err := make(id.Path); err == nil {
		return id.Path, nil
	}
	var last error
	for i := 0; i < 100; i++ {
		p, err := filepath.Abs(filepath.Join(t.req.TempDir, ".crrun-deleted-"+strconv.FormatUint(id.Inode, 10)+"-"+
			strconv.FormatInt(time.Now().UnixNano()%1e9, 36)))
		if err != nil {
			return "", err
		}
		if last = make(p); last == nil {
			return p, nil
		}
		if !errors.Is(last, unix.EEXIST) {
			break
		}
	}
	return "", last
}

// recreate makes a new object like the deleted one, mode 0600 (0700) for
// now so crrun and the app can open it whatever its saved mode.
func (t *treeRestorer) recreate(id *image.FileIdentity, blob string) (*unlinkedObj, error) {
	u := id.Unlinked
	mode := uint32(u.Mode)
	var path string
	var err error
	switch mode & unix.S_IFMT {
	case unix.S_IFREG:
		var fd int
		path, err = t.names(id, func(p string) error {
			var e error
			fd, e = unix.Open(p, unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY|unix.O_CLOEXEC, 0o600)
			return e
		})
		if err != nil {
			return nil, err
		}
		f := os.NewFile(uintptr(fd), path)
		err = t.writeExtents(f, u, blob)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			unix.Unlink(path)
			return nil, err
		}
	case unix.S_IFDIR:
		path, err = t.names(id, func(p string) error { return unix.Mkdir(p, 0o700) })
	case unix.S_IFIFO:
		path, err = t.names(id, func(p string) error { return unix.Mkfifo(p, 0o600) })
	case unix.S_IFCHR, unix.S_IFBLK:
		dev := unix.Mkdev(u.Rdev.Major(), u.Rdev.Minor())
		path, err = t.names(id, func(p string) error { return unix.Mknod(p, mode&unix.S_IFMT|0o600, int(dev)) })
	default:
		return nil, fmt.Errorf("a deleted file of type %#o", mode&unix.S_IFMT)
	}
	if err != nil {
		return nil, err
	}
	return &unlinkedObj{path: path, id: id}, nil
}

// writeExtents writes a regular file's saved data runs where they were and
// sets its size: what was a hole stays one.
func (t *treeRestorer) writeExtents(f *os.File, u *image.Unlinked, blob string) error {
	if len(u.Extents) > 0 {
		b, err := t.req.Image.OpenBlob(blob)
		if err != nil {
			return err
		}
		defer b.Close()
		for _, e := range u.Extents {
			if _, err := io.Copy(io.NewOffsetWriter(f, e.Offset), io.LimitReader(b, e.Length)); err != nil {
				return fmt.Errorf("write %d bytes at %d: %w", e.Length, e.Offset, err)
			}
		}
	}
	return f.Truncate(u.Size)
}

// linkByHandle opens the surviving inode by its handle and gives it a
// temporary name on its file system (its deleted name if free): linkat
// with AT_EMPTY_PATH, which needs CAP_DAC_READ_SEARCH like the handle.
func (t *treeRestorer) linkByHandle(id *image.FileIdentity) (*unlinkedObj, error) {
	h := id.Unlinked.Handle
	mfd, err := unix.Open(h.MountPoint, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open its mount %s: %w", h.MountPoint, err)
	}
	defer unix.Close(mfd)
	fd, err := unix.OpenByHandleAt(mfd, unix.NewFileHandle(h.Type, h.Bytes), unix.O_PATH|unix.O_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("open_by_handle_at (its other names are gone, or restore is not root?): %w", err)
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, err
	}
	if st.Ino != id.Inode || unix.Major(st.Dev) != id.Dev.Major() || unix.Minor(st.Dev) != id.Dev.Minor() {
		return nil, fmt.Errorf("its file handle opens inode %d, not %d", st.Ino, id.Inode)
	}
	link := func(p string) error { return unix.Linkat(fd, "", unix.AT_FDCWD, p, unix.AT_EMPTY_PATH) }
	path := ""
	if link(id.Path) == nil {
		path = id.Path
	} else {
		for i := 0; i < 100 && path == ""; i++ {
			p := filepath.Join(h.MountPoint, ".crrun-link-"+strconv.FormatUint(id.Inode, 10)+"-"+strconv.FormatInt(time.Now().UnixNano()%1e9, 36))
			if err = link(p); err == nil {
				path = p
			} else if !errors.Is(err, unix.EEXIST) {
				return nil, fmt.Errorf("link it on its file system at %s: %w", p, err)
			}
		}
		if path == "" {
			return nil, err
		}
	}
	return &unlinkedObj{path: path, id: id, link: true}, nil
}

// finishUnlinked gives every recreated object its saved owner, mode and
// times and removes its name, once the whole tree has it open, mapped or as
// its working directory (before any of the app runs).
func (t *treeRestorer) finishUnlinked() error {
	for _, o := range t.deleted {
		if o.link {
			if err := unix.Unlink(o.path); err != nil {
				return fmt.Errorf("deleted %s: remove the temporary link %s: %w", o.id.Path, o.path, err)
			}
			continue
		}
		u := o.id.Unlinked
		var st unix.Stat_t
		if err := unix.Lstat(o.path, &st); err != nil {
			return err
		}
		fail := func(what string, err error) error {
			return fmt.Errorf("deleted %s (recreated at %s): %s: %w", o.id.Path, o.path, what, err)
		}
		if st.Uid != u.UID || st.Gid != u.GID {
			if err := unix.Lchown(o.path, int(u.UID), int(u.GID)); err != nil {
				return fail(fmt.Sprintf("chown %d:%d", u.UID, u.GID), err)
			}
		}
		if err := unix.Chmod(o.path, uint32(u.Mode)&0o7777); err != nil {
			return fail(fmt.Sprintf("chmod %#o", uint32(u.Mode)&0o7777), err)
		}
		ts := []unix.Timespec{unix.NsecToTimespec(u.Atime.UnixNano()), unix.NsecToTimespec(u.Mtime.UnixNano())}
		if err := unix.UtimesNanoAt(unix.AT_FDCWD, o.path, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return fail("set its times", err)
		}
		var err error
		if uint32(u.Mode)&unix.S_IFMT == unix.S_IFDIR {
			err = unix.Rmdir(o.path)
		} else {
			err = unix.Unlink(o.path)
		}
		if err != nil {
			return fail("remove it again", err)
		}
	}
	t.deleted = nil
	return nil
}

// cwdPath is the directory p is restored into: its working directory, or
// the recreated one if it was deleted.
func (t *treeRestorer) cwdPath(p *image.Process) (string, error) {
	if p.CwdFile == nil {
		return p.Cwd, nil
	}
	return t.deletedPath(p.CwdFile, "")
}
