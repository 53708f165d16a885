package checkpoint

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/crrun/crrun/image"
	"github.com/crrun/crrun/internal/procfs"
	"github.com/crrun/crrun/seccomp"

	"golang.org/x/sys/unix"
)

// Deleted files, directories, FIFOs and device nodes (issue 9): what the
// app holds open, maps or has as its working directory after the name is
// gone. Each is saved as an image.Unlinked: owner, mode, times, and for a
// regular file its data runs (holes stay holes), or, when the inode still
// has another name, a file handle that opens that same inode again. What
// cannot be brought back exactly is refused here, naming the holder.

// unlinked describes the deleted object open at path (a /proc/PID/fd/N or
// /proc/PID/map_files link) whose stat is st, saving a regular file's data
// once per inode as blob inodeBlob(dev, ino). where names the holder for
// errors; the blob name is "" for what has no content.
func (t *tree) unlinked(pid int, fd int, where, path string, st *unix.Stat_t) (*image.Unlinked, string, error) {
	k := fileKey{st.Dev, st.Ino}
	if u, ok := t.unlinkedDone[k]; ok {
		return u.u, u.blob, nil
	}
	refuse := func(what string) error {
		return &NotCheckpointableError{Findings: []seccomp.Finding{{Pid: pid, Kind: "deleted_file", Fd: fd,
			Reason: fmt.Sprintf("CR: %s: %s", where, what)}}}
	}
	u := &image.Unlinked{Mode: image.Octal(st.Mode), UID: st.Uid, GID: st.Gid, Atime: timespec(st.Atim), Mtime: timespec(st.Mtim)}
	blob := ""
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFREG:
		u.Size = st.Size
		if st.Nlink > 0 {
			// Unlinked here, linked elsewhere: the app shares the inode
			// with that other name, a copy would not do.
			h, err := handleOf(path, st)
			if err != nil {
				return nil, "", refuse(fmt.Sprintf("a deleted name of a file that still has %d other link(s) not supported here: %v", st.Nlink, err))
			}
			u.Handle = h
			break
		}
		blob = inodeBlob(st.Dev, st.Ino)
		ext, err := t.saveSparse(blob, path)
		if err != nil {
			return nil, "", fmt.Errorf("%s: save the deleted file's content: %w", where, err)
		}
		u.Extents = ext
	case unix.S_IFDIR, unix.S_IFIFO:
		// An unlinked directory is empty (rmdir wants it so, and nothing
		// can be created in it afterwards); a FIFO's data is its pipe's.
	case unix.S_IFCHR, unix.S_IFBLK:
		if os.Geteuid() != 0 {
			return nil, "", refuse("a deleted device node held open can only be recreated by root (mknod): not supported for an ordinary user")
		}
		u.Rdev = image.MakeDev(unix.Major(st.Rdev), unix.Minor(st.Rdev))
	default:
		return nil, "", refuse(fmt.Sprintf("a deleted file of type %#o not supported yet", st.Mode&unix.S_IFMT))
	}
	t.w.RequireFeature("deleted-files")
	if t.unlinkedDone == nil {
		t.unlinkedDone = map[fileKey]unlinkedObj{}
	}
	t.unlinkedDone[k] = unlinkedObj{u, blob}
	return u, blob, nil
}

type unlinkedObj struct {
	u    *image.Unlinked
	blob string
}

// saveSparse saves the data runs of the file at path, back to back, as
// blob name, and returns them. O_NOATIME, where allowed, keeps the read from
// changing the app's file.
func (t *tree) saveSparse(name, path string) ([]image.FileExtent, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC|unix.O_NOATIME, 0)
	if err == unix.EPERM {
		fd, err = unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	}
	if err != nil {
		return nil, err
	}
	f := os.NewFile(uintptr(fd), path)
	defer f.Close()
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, err
	}
	var ext []image.FileExtent
	for off := int64(0); off < st.Size; {
		data, err := unix.Seek(fd, off, unix.SEEK_DATA)
		if err == unix.ENXIO {
			break // only a hole up to the end
		}
		if err != nil {
			return nil, fmt.Errorf("SEEK_DATA at %d: %w", off, err)
		}
		hole, err := unix.Seek(fd, data, unix.SEEK_HOLE)
		if err != nil {
			return nil, fmt.Errorf("SEEK_HOLE at %d: %w", data, err)
		}
		hole = min(hole, st.Size)
		if hole > data {
			ext = append(ext, image.FileExtent{Offset: data, Length: hole - data})
		}
		off = hole
	}
	bw, err := t.w.CreateBlob(name)
	if err != nil {
		return nil, err
	}
	for _, e := range ext {
		if _, err := io.Copy(bw, io.NewSectionReader(f, e.Offset, e.Length)); err != nil {
			bw.Close()
			return nil, err
		}
	}
	if err := bw.Close(); err != nil {
		return nil, err
	}
	t.blobs[name] = true
	return ext, nil
}

// handleOf returns a handle that opens the inode at path (st) again, checked
// now by opening it: open_by_handle_at needs CAP_DAC_READ_SEARCH.
func handleOf(path string, st *unix.Stat_t) (*image.FileHandle, error) {
	h, _, err := unix.NameToHandleAt(unix.AT_FDCWD, path, unix.AT_SYMLINK_FOLLOW)
	if err != nil {
		return nil, fmt.Errorf("name_to_handle_at: %w", err)
	}
	// The mount id is the app's (its own mount namespace): any mount of
	// the same file system in crrun's opens the handle, the whole
	// file system's first.
	mounts, err := procfs.MountInfo(os.Getpid())
	if err != nil {
		return nil, err
	}
	mp := ""
	for _, m := range mounts {
		if unix.Mkdev(m.Dev.Major, m.Dev.Minor) == st.Dev && (mp == "" || m.Root == "/") {
			mp = m.MountPoint
		}
	}
	if mp == "" {
		return nil, fmt.Errorf("no mount of its file system (%d:%d) in crrun's mount namespace", unix.Major(st.Dev), unix.Minor(st.Dev))
	}
	mfd, err := unix.Open(mp, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	defer unix.Close(mfd)
	fd, err := unix.OpenByHandleAt(mfd, h, unix.O_PATH|unix.O_CLOEXEC)
	if err != nil {
		if errors.Is(err, unix.EPERM) {
			return nil, errors.New("reopening the same inode needs root (open_by_handle_at needs CAP_DAC_READ_SEARCH)")
		}
		return nil, fmt.Errorf("open_by_handle_at: %w", err)
	}
	defer unix.Close(fd)
	var got unix.Stat_t
	if err := unix.Fstat(fd, &got); err != nil {
		return nil, err
	}
	if got.Dev != st.Dev || got.Ino != st.Ino {
		return nil, errors.New("its file handle opens another inode")
	}
	return &image.FileHandle{Type: h.Type(), Bytes: h.Bytes(), MountPoint: mp}, nil
}

// deletedFD completes fd, of a deleted file, directory, FIFO or device
// node, with what restore recreates it from.
func (d *dumper) deletedFD(fd *image.FD, where, link string, st *unix.Stat_t) error {
	u, blob, err := d.t.unlinked(d.pid, fd.FD, where, link, st)
	if err != nil {
		return err
	}
	fd.File.Unlinked, fd.Blob = u, blob
	return nil
}

// deletedCwd fills p.CwdFile when pid's working directory was deleted.
func (d *dumper) deletedCwd(p *image.Process) error {
	const suffix = " (deleted)"
	if len(p.Cwd) < len(suffix) || p.Cwd[len(p.Cwd)-len(suffix):] != suffix {
		return nil
	}
	link := fmt.Sprintf("/proc/%d/cwd", d.pid)
	var st unix.Stat_t
	if err := unix.Stat(link, &st); err != nil {
		return fmt.Errorf("pid %d: stat its deleted working directory: %w", d.pid, err)
	}
	path := p.Cwd[:len(p.Cwd)-len(suffix)]
	id := fileIdentity(path, &st, true)
	u, _, err := d.t.unlinked(d.pid, -1, fmt.Sprintf("pid %d: working directory %s", d.pid, p.Cwd), link, &st)
	if err != nil {
		return err
	}
	id.Unlinked = u
	p.CwdFile = id
	return nil
}
