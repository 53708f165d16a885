package image

import (
	"errors"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// An image is code: restoring one runs whatever its pages and registers
// say, with whatever files it names open. Restoring an image that someone
// else could have written (or rewritten) hands that someone the restorer's
// power. These checks say whose an image is before anything of it runs.

// ErrUntrusted means an image, or the store it lies in, is not the
// restorer's own: another user owns it or may write it.
var ErrUntrusted = errors.New("not trusted")

// UntrustedError names the path that is not the restorer's and why.
type UntrustedError struct {
	Path  string // the directory or file
	Owner uint32 // its owner
	Mode  uint32 // its permission bits
	UID   int    // the restorer
	Why   string // "belongs to uid 1000 (alice)", "is writable by its group"
}

func (e *UntrustedError) Error() string {
	why := e.Why
	if int(e.Owner) != e.UID {
		why += fmt.Sprintf(", not to you (uid %d, %s)", e.UID, userName(uint32(e.UID)))
	}
	return fmt.Sprintf("%s %s: an image is code, and whoever can write it chooses what the restored app runs "+
		"and opens with your credentials; restore it only if you trust them: --trust-image", e.Path, why)
}

func (e *UntrustedError) Unwrap() error { return ErrUntrusted }

func userName(uid uint32) string {
	if u, err := user.LookupId(strconv.FormatUint(uint64(uid), 10)); err == nil {
		return u.Username
	}
	return "no name"
}

// checkOwned checks that path (not followed if it is a symbolic link)
// belongs to uid and that neither its group nor others may write it.
func checkOwned(path string, uid int) error {
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); err != nil {
		return fmt.Errorf("image: %w", os.NewSyscallError("lstat "+path, err))
	}
	e := &UntrustedError{Path: path, Owner: st.Uid, Mode: st.Mode & 0o7777, UID: uid}
	switch {
	case int(st.Uid) != uid:
		e.Why = fmt.Sprintf("belongs to uid %d (%s)", st.Uid, userName(st.Uid))
	case st.Mode&0o002 != 0:
		e.Why = fmt.Sprintf("is yours but writable by everyone (mode %04o): chmod go-w it", st.Mode&0o7777)
	case st.Mode&0o020 != 0:
		e.Why = fmt.Sprintf("is yours but writable by its group %d (mode %04o): chmod g-w it", st.Gid, st.Mode&0o7777)
	default:
		return nil
	}
	return e
}

// CheckOwner checks that the image is uid's alone: its directory, its
// manifest and every file the manifest lists belong to uid, and none is
// writable by a group or by others. Run it before the image is restored
// (page data and registers become a running program, file names become open
// files); an error is an *UntrustedError naming the path and its owner.
func (r *Reader) CheckOwner(uid int) error {
	if err := checkOwned(r.dir, uid); err != nil {
		return err
	}
	names := []string{ManifestFile}
	for _, f := range r.manifest.Files {
		names = append(names, f.Name)
	}
	for _, n := range names {
		if err := checkOwned(filepath.Join(r.dir, n), uid); err != nil {
			return err
		}
	}
	return r.checkParentsOwned(uid)
}

// Owner returns the uid that owns the image directory.
func (r *Reader) Owner() (uint32, error) {
	var st unix.Stat_t
	if err := unix.Lstat(r.dir, &st); err != nil {
		return 0, fmt.Errorf("image: %w", os.NewSyscallError("lstat "+r.dir, err))
	}
	return st.Uid, nil
}

// CheckStoreOwner checks that the store directory dir is uid's alone (its
// owner may otherwise put a generation of their making in it: --resume=auto
// would run it).
func CheckStoreOwner(dir string, uid int) error { return checkOwned(dir, uid) }

// ThisHost identifies the running machine and boot (empty fields where the
// files are missing).
func ThisHost() *Host {
	read := func(path string) string {
		b, err := os.ReadFile(path)
		if err != nil {
			return ""
		}
		return strings.TrimSpace(string(b))
	}
	return &Host{MachineID: read("/etc/machine-id"), BootID: read("/proc/sys/kernel/random/boot_id")}
}
