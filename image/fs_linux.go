package image

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// Filesystem operations the write protocol relies on.

// syncDir fsyncs a directory, making the creation, removal or renaming of
// its entries durable.
func syncDir(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// renameNoReplace renames oldpath to newpath and fails with EEXIST if newpath
// exists (renameat2 RENAME_NOREPLACE: a plain rename(2) would silently
// replace an empty directory). On a filesystem without RENAME_NOREPLACE (some
// network and FUSE filesystems answer EINVAL) it checks and renames, which is
// racy only against another writer choosing the same name.
func renameNoReplace(oldpath, newpath string) error {
	err := unix.Renameat2(unix.AT_FDCWD, oldpath, unix.AT_FDCWD, newpath, unix.RENAME_NOREPLACE)
	if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS) {
		if _, serr := os.Lstat(newpath); serr == nil {
			err = unix.EEXIST
		} else {
			return os.Rename(oldpath, newpath)
		}
	}
	if err != nil {
		return &os.LinkError{Op: "rename", Old: oldpath, New: newpath, Err: err}
	}
	return nil
}

// renameExchange atomically swaps two paths (renameat2 RENAME_EXCHANGE).
func renameExchange(a, b string) error {
	if err := unix.Renameat2(unix.AT_FDCWD, a, unix.AT_FDCWD, b, unix.RENAME_EXCHANGE); err != nil {
		return &os.LinkError{Op: "rename (exchange)", Old: a, New: b, Err: err}
	}
	return nil
}

// lockDir takes an exclusive flock on an open directory without waiting.
// A writer holds one on its temporary directory for its whole life, so that
// Store.Prune can tell a live writer's directory from one left by a crash
// (flock locks die with the process).
func lockDir(f *os.File) error {
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		return os.NewSyscallError("flock", err)
	}
	return nil
}

// dirLocked reports whether another open file description holds a flock on
// the directory at path.
func dirLocked(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	return errors.Is(lockDir(f), unix.EWOULDBLOCK)
}

// fdatasync flushes f's data and the metadata needed to read it back
// (its size), not its times: what a page file needs before the manifest.
func fdatasync(f *os.File) error {
	for {
		err := unix.Fdatasync(int(f.Fd()))
		if err != unix.EINTR {
			return err
		}
	}
}
