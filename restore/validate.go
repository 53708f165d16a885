package restore

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"time"

	"github.com/crrun/crrun/checkpoint"
	"github.com/crrun/crrun/image"
	"github.com/crrun/crrun/internal/access"
	"github.com/crrun/crrun/internal/procfs"

	"golang.org/x/sys/unix"
)

// ErrChanged means a file the image refers to is no longer the same.
var ErrChanged = errors.New("changed since the checkpoint")

// A Plan is what a restore will change on the host before the app runs,
// decided by Check once every check of every process has passed. Nothing
// is truncated, created or opened for writing before Apply.
type Plan struct {
	truncs   []truncation
	rewrites []tmpfsRewrite
	img      *image.Reader
}

// tmpfsRewrite puts back the content of a file on tmpfs the app had mapped
// shared (VMA.Content), creating the file if it is gone.
type tmpfsRewrite struct {
	what  string // "pid 12: the file mapped at 0x7f..."
	path  string
	blob  string
	mode  uint32 // permission bits, for a file created anew
	creds image.Credentials
}

// truncation shrinks a file the app had open for writing back to its size
// at checkpoint time.
type truncation struct {
	what     string // "pid 12: fd 3"
	path     string
	size     int64
	dev, ino uint64 // as Check found it: Apply truncates this inode only
	creds    image.Credentials
}

// hostMatch says how much of a file's identity can be compared here.
type hostMatch int

const (
	otherHost   hostMatch = iota // size, mtime, content hash
	sameMachine                  // and device, inode, ctime where the device number is the same
	sameBoot                     // and device, inode, ctime
)

func (h hostMatch) String() string {
	return [...]string{"another host", "the same machine (another boot)", "the same host and boot"}[h]
}

func matchHost(img, here *image.Host) hostMatch {
	switch {
	case img == nil || here == nil:
		return otherHost
	case img.BootID != "" && img.BootID == here.BootID:
		return sameBoot
	case img.MachineID != "" && img.MachineID == here.MachineID:
		return sameMachine
	}
	return otherHost
}

// CheckOptions says whose image is restored.
type CheckOptions struct {
	// Foreign is set when the image is not the restorer's own (restored
	// with --trust-image): then Owner is the uid that owns it, every
	// process's credentials must be ones that uid has, and every file the
	// restore opens for a process must be one its credentials may open.
	// An image of the restorer's own was written by its own crrun: it holds
	// only what the kernel had given the app (a daemon that opened a file as
	// root and then dropped its privileges gets it back).
	Foreign bool
	Owner   uint32
}

// Check runs every check a restore needs, for every process of the image,
// before anything on the host changes: the same kernel vdso; a CPU with
// every instruction-set extension the checkpoint's had (cpu.go); the
// executable, every mapped file and every file opened by path the same as
// at checkpoint time (see sameFile); and, for a foreign image, credentials
// no more than its owner has and files accessible to them (see
// checkAccess: root restoring a user's image must not hand the app a file
// that user could not open). It returns what Apply will then change (files
// that grew, truncated back).
func Check(img *image.Reader, opt CheckOptions) (*Plan, error) {
	if err := checkVDSO(img.Meta().VDSO); err != nil {
		return nil, err
	}
	if err := checkCPU(img.Meta().CPU, image.ThisCPU()); err != nil { // cpu.go
		return nil, err
	}
	hm := matchHost(img.Meta().Host, image.ThisHost())
	plan := &Plan{img: img}
	if err := checkSysV(img); err != nil {
		return nil, err
	}
	for _, p := range img.Processes() {
		if p.Zombie != nil {
			continue
		}
		reqs, err := plan.checkProcess(p, hm)
		if err != nil {
			return nil, fmt.Errorf("pid %d: %w", p.PID, err)
		}
		if !opt.Foreign {
			continue
		}
		if err := ownerHas(opt.Owner, p.Creds); err != nil {
			return nil, fmt.Errorf("pid %d: %w", p.PID, err)
		}
		if err := rawForeign(p, opt.Owner); err != nil { // raw.go
			return nil, fmt.Errorf("pid %d: %w", p.PID, err)
		}
		if err := checkAccess(p.Creds, reqs); err != nil {
			return nil, fmt.Errorf("pid %d: %w", p.PID, err)
		}
	}
	return plan, nil
}

// checkSysV checks that every SysV attachment of the image is of a
// segment the image's private IPC namespace recreates, mapped whole, and
// that every segment's blob holds its bytes.
func checkSysV(img *image.Reader) error {
	ipc := img.Meta().IPC
	segs := map[int]uint64{}
	if ipc != nil && ipc.Mode == image.IPCPrivate {
		for _, s := range ipc.Shm {
			segs[s.ID] = s.Size
			b, err := img.OpenBlob(s.Blob)
			if err != nil {
				return fmt.Errorf("SysV segment %d: %w", s.ID, err)
			}
			n := b.Size()
			b.Close()
			if uint64(n) != s.Size {
				return fmt.Errorf("SysV segment %d: blob %s holds %d bytes, not %d", s.ID, s.Blob, n, s.Size)
			}
		}
	}
	for _, p := range img.Processes() {
		for _, v := range p.Memory {
			if v.Kind != image.VMASysV {
				continue
			}
			size, ok := segs[v.ShmID]
			if !ok || v.Offset != 0 || v.Size() != (size+image.PageSize-1)/image.PageSize*image.PageSize {
				return fmt.Errorf("pid %d: mapping %s-%s attaches SysV segment %d, which the image does not recreate whole", p.PID, v.Start, v.End, v.ShmID)
			}
		}
	}
	return nil
}

// checkProcess checks the files of p and lists the accesses its restore
// makes on its behalf.
func (plan *Plan) checkProcess(p *image.Process, hm hostMatch) ([]accessReq, error) {
	var reqs []accessReq
	if _, err := sameFile("the executable", &p.Exe, false, hm); err != nil {
		return nil, err
	}
	reqs = append(reqs, accessReq{What: "the executable", Path: p.Exe.Path, Mode: unix.X_OK})
	if p.Cwd != "" && p.Root == "" {
		reqs = append(reqs, accessReq{What: "the working directory", Path: p.Cwd, Mode: unix.X_OK})
	}
	for _, v := range p.Memory {
		if v.Kind != image.VMAFile || v.File == nil || v.File.Deleted {
			continue
		}
		// A file mapped shared and writable is the app's own data: it may
		// have changed since, like a file written through an fd.
		writable := v.Shared && v.Prot&image.ProtWrite != 0
		what := fmt.Sprintf("the file mapped at %#x", uint64(v.Start))
		if v.Content != "" {
			// A file in memory (tmpfs): its saved content is written
			// back (Apply), into the file there or a new one.
			if !slices.ContainsFunc(plan.rewrites, func(r tmpfsRewrite) bool { return r.path == v.File.Path }) {
				plan.rewrites = append(plan.rewrites, tmpfsRewrite{what: fmt.Sprintf("pid %d: %s", p.PID, what),
					path: v.File.Path, blob: v.Content, mode: uint32(v.File.Mode) & 0o7777, creds: p.Creds})
			}
			mode := uint32(unix.R_OK)
			if writable {
				mode |= unix.W_OK
			}
			if _, err := os.Lstat(v.File.Path); err == nil {
				reqs = append(reqs, accessReq{What: what, Path: v.File.Path, Mode: mode})
			} else {
				reqs = append(reqs, accessReq{What: what + " (to be created again)", Path: filepath.Dir(v.File.Path), Mode: unix.W_OK | unix.X_OK})
			}
			continue
		}
		if _, err := sameFile(what, v.File, writable, hm); err != nil {
			return nil, err
		}
		if v.File.Path == p.Exe.Path {
			continue // mapped by exec: execute permission is enough
		}
		mode := uint32(unix.R_OK)
		if writable {
			mode |= unix.W_OK
		}
		reqs = append(reqs, accessReq{What: what, Path: v.File.Path, Mode: mode})
	}
	for _, f := range p.FDs {
		if f.Stdio != nil || f.File == nil || f.File.Deleted || f.Procfs {
			continue // procfs: nothing to compare (opened in the app's /proc at restore)
		}
		what := fmt.Sprintf("the file of fd %d", f.FD)
		writable := f.Flags&(unix.O_WRONLY|unix.O_RDWR) != 0
		switch f.Kind {
		case image.FDFile:
			st, err := sameFile(what, f.File, writable, hm)
			if err != nil {
				return nil, err
			}
			if writable && st.Mode&unix.S_IFMT == unix.S_IFREG && st.Size > f.File.Size {
				plan.truncs = append(plan.truncs, truncation{what: fmt.Sprintf("pid %d: fd %d", p.PID, f.FD),
					path: f.File.Path, size: f.File.Size, dev: st.Dev, ino: st.Ino, creds: p.Creds})
			}
		case image.FDDir, image.FDDevice, image.FDFIFO:
			var st unix.Stat_t
			if err := unix.Stat(f.File.Path, &st); err != nil {
				return nil, fmt.Errorf("%s, %s: %w", what, f.File.Path, err)
			}
			if want := uint32(f.File.Mode) & unix.S_IFMT; want != 0 && st.Mode&unix.S_IFMT != want {
				return nil, fmt.Errorf("%s, %s: %w (type %o, was %o)", what, f.File.Path, ErrChanged, st.Mode&unix.S_IFMT, want)
			}
		default:
			continue
		}
		if f.Pty == nil && uint32(f.File.Mode)&unix.S_IFMT != unix.S_IFLNK { // a pty is made anew; an O_PATH fd on a symlink opens nothing
			reqs = append(reqs, accessReq{What: what, Path: f.File.Path, Mode: access.OpenMode(uint64(f.Flags))})
		}
	}
	return reqs, nil
}

// sameFile checks a file against its saved identity and returns what it is
// now. What "the same" means depends on where the restore runs (hm):
// everywhere the same size, mtime (to the nanosecond) and, when the image
// has one, content hash (SHA-256, see image.HashLimit); on the host and
// boot of the checkpoint also the same device and inode, and the same
// ctime — which no one can set back, unlike mtime (touch -r). A ctime that
// moved is forgiven only when the content hash proves the content the same
// (a file rewritten with its own bytes). A writable file may have grown
// (Apply truncates it back) but not shrunk; its content and times are the
// app's own business.
func sameFile(what string, id *image.FileIdentity, writable bool, hm hostMatch) (*unix.Stat_t, error) {
	changed := func(field, now, was string) error {
		return fmt.Errorf("%s %s: %w: its %s differs: %s now, %s at the checkpoint (restoring on %s)",
			what, id.Path, ErrChanged, field, now, was, hm)
	}
	var st unix.Stat_t
	stat, link := unix.Stat, uint32(id.Mode)&unix.S_IFMT == unix.S_IFLNK
	if link {
		stat = unix.Lstat // an O_PATH|O_NOFOLLOW fd on the symlink itself
	}
	if err := stat(id.Path, &st); err != nil {
		return nil, fmt.Errorf("%s %s: %w", what, id.Path, err)
	}
	if want := uint32(id.Mode) & unix.S_IFMT; want != 0 && st.Mode&unix.S_IFMT != want {
		return nil, changed("type", fmt.Sprintf("%o", st.Mode&unix.S_IFMT), fmt.Sprintf("%o", want))
	}
	dev := image.MakeDev(unix.Major(st.Dev), unix.Minor(st.Dev))
	// After a reboot a device number names the same file system only for a
	// real device: anonymous ones (major 0: tmpfs, overlayfs, btrfs
	// subvolumes...) are handed out at mount time.
	sameDev := hm == sameBoot || (hm == sameMachine && dev == id.Dev && id.Dev.Major() != 0)
	if sameDev && id.Inode != 0 {
		if dev != id.Dev {
			return nil, changed("device", dev.String(), id.Dev.String())
		}
		if st.Ino != id.Inode {
			return nil, changed("inode", fmt.Sprint(st.Ino), fmt.Sprint(id.Inode))
		}
	}
	if writable {
		if st.Size < id.Size {
			return nil, fmt.Errorf("%s %s: %w: it shrank from %d to %d bytes, below what the app had written", what, id.Path, ErrChanged, id.Size, st.Size)
		}
		return &st, nil
	}
	if st.Size != id.Size {
		return nil, changed("size", fmt.Sprint(st.Size), fmt.Sprint(id.Size))
	}
	if mtime := time.Unix(st.Mtim.Sec, st.Mtim.Nsec); !mtime.Equal(id.Mtime) {
		return nil, changed("mtime", mtime.Format(time.RFC3339Nano), id.Mtime.Format(time.RFC3339Nano))
	}
	hashed := false
	if id.SHA256 != "" && !link {
		got, err := hashFile(id.Path, &st)
		if err != nil {
			return nil, fmt.Errorf("%s %s: hash its content: %w", what, id.Path, err)
		}
		if got != id.SHA256 {
			return nil, changed("content (sha256; size and mtime are the same)", got, id.SHA256)
		}
		hashed = true
	}
	if ctime := time.Unix(st.Ctim.Sec, st.Ctim.Nsec); sameDev && !id.Ctime.IsZero() && !ctime.Equal(id.Ctime) && !hashed {
		return nil, changed("ctime (the inode was changed since, and its content has no hash to prove it the same)",
			ctime.Format(time.RFC3339Nano), id.Ctime.Format(time.RFC3339Nano))
	}
	return &st, nil
}

// hashFile returns the hex SHA-256 of the regular file at path, which must
// still be the one st describes.
func hashFile(path string, st *unix.Stat_t) (string, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK|syscall.O_NOCTTY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return "", err
	}
	defer f.Close()
	var now unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &now); err != nil {
		return "", err
	}
	if now.Mode&unix.S_IFMT != unix.S_IFREG || now.Dev != st.Dev || now.Ino != st.Ino || now.Size != st.Size {
		return "", fmt.Errorf("%w: replaced while being checked", ErrChanged)
	}
	h := sha256.New()
	if _, err := io.Copy(h, io.NewSectionReader(f, 0, now.Size)); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// Changes says, one line each, what Apply would change on the host (for
// `crrun restore --check`): files cut back to their size at checkpoint
// time, files in memory (tmpfs) whose content is put back.
func (plan *Plan) Changes() []string {
	var out []string
	for _, rw := range plan.rewrites {
		out = append(out, fmt.Sprintf("%s: %s: its content put back as it was at the checkpoint (a file in memory, tmpfs)", rw.what, rw.path))
	}
	for _, t := range plan.truncs {
		now := "its size now unknown"
		if fi, err := os.Lstat(t.path); err == nil {
			now = fmt.Sprintf("now %d bytes", fi.Size())
		}
		out = append(out, fmt.Sprintf("%s: %s: cut back to %d bytes, its size at the checkpoint (%s)", t.what, t.path, t.size, now))
	}
	return out
}

// Apply makes the changes Check decided, and only those: each file the app
// had open for writing that grew since is truncated back to its size at
// checkpoint time, so that what the app writes again after the restore is
// not there twice (an appended log never gets duplicate lines). The file is
// opened with the process's credentials (never following a symbolic link)
// and truncated only if it is still the inode Check saw.
func (plan *Plan) Apply() error {
	for _, rw := range plan.rewrites {
		if err := plan.rewriteTmpfs(rw); err != nil {
			return fmt.Errorf("%s: write back the content of %s (a file in memory, tmpfs, as it was at the checkpoint): %w", rw.what, rw.path, err)
		}
	}
	for _, t := range plan.truncs {
		err := asCreds(t.creds, func() error {
			f, err := os.OpenFile(t.path, os.O_WRONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK|syscall.O_NOCTTY|syscall.O_CLOEXEC, 0)
			if err != nil {
				return err
			}
			defer f.Close()
			var st unix.Stat_t
			if err := unix.Fstat(int(f.Fd()), &st); err != nil {
				return err
			}
			if st.Mode&unix.S_IFMT != unix.S_IFREG || st.Dev != t.dev || st.Ino != t.ino {
				return fmt.Errorf("%w: replaced since it was checked", ErrChanged)
			}
			return f.Truncate(t.size)
		})
		if err != nil {
			return fmt.Errorf("%s: truncate %s back to %d bytes: %w", t.what, t.path, t.size, err)
		}
	}
	return nil
}

// checkVDSO compares the image's vdso with this kernel's (ours).
func checkVDSO(want image.VDSO) error {
	if want.SHA256 == "" {
		return nil
	}
	maps, err := procfs.Maps(os.Getpid())
	if err != nil {
		return err
	}
	for _, m := range maps {
		if m.Path != "[vdso]" {
			continue
		}
		got, err := checkpoint.VDSOIdentity(os.Getpid(), m.Start, m.End)
		if err != nil {
			return err
		}
		if got != want {
			return fmt.Errorf("the kernel's vdso differs from the image's (%d bytes sha256 %.12s…, image %d bytes %.12s…): "+
				"restore needs the same kernel build as the checkpoint", got.Size, got.SHA256, want.Size, want.SHA256)
		}
		return nil
	}
	return errors.New("this process has no [vdso] to compare with the image's")
}

// rewriteTmpfs writes a tmpfs file's saved content back, with the process's
// credentials (never following a symbolic link): into the regular file at
// the path, or a file created there with its saved permissions.
func (plan *Plan) rewriteTmpfs(rw tmpfsRewrite) error {
	b, err := plan.img.OpenBlob(rw.blob)
	if err != nil {
		return err
	}
	defer b.Close()
	return asCreds(rw.creds, func() error {
		flags := os.O_WRONLY | syscall.O_NOFOLLOW | syscall.O_NONBLOCK | syscall.O_NOCTTY | syscall.O_CLOEXEC
		f, err := os.OpenFile(rw.path, flags, 0)
		if errors.Is(err, os.ErrNotExist) {
			if f, err = os.OpenFile(rw.path, flags|os.O_CREATE|os.O_EXCL, 0o600); err == nil {
				err = f.Chmod(os.FileMode(rw.mode & 0o777))
			}
		}
		if err != nil {
			if f != nil {
				f.Close()
			}
			return err
		}
		defer f.Close()
		var st unix.Stat_t
		if err := unix.Fstat(int(f.Fd()), &st); err != nil {
			return err
		}
		if st.Mode&unix.S_IFMT != unix.S_IFREG {
			return fmt.Errorf("%w: not a regular file now", ErrChanged)
		}
		if _, err := io.Copy(f, b); err != nil {
			return err
		}
		return f.Truncate(b.Size())
	})
}
