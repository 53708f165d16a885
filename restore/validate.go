package restore

import (
	"errors"
	"fmt"
	"os"
	"time"

	"crrun/checkpoint"
	"crrun/image"
	"crrun/internal/procfs"

	"golang.org/x/sys/unix"
)

// ErrChanged means a file the image refers to is no longer the same.
var ErrChanged = errors.New("changed since the checkpoint")

// Validate checks, before anything runs, that this machine can restore the
// image exactly: the same kernel vdso, and the same executable and files.
// What "the same file" means: the same size and modification time (to the
// nanosecond) as at checkpoint time — enough across machines with the same
// files, where device and inode numbers differ. Files the app had open for
// writing may have grown since (an appended log): Prepare truncates them back.
func Validate(img *image.Reader, p *image.Process) error {
	if err := checkVDSO(img.Meta().VDSO); err != nil {
		return err
	}
	if err := sameFile("the executable", &p.Exe, false); err != nil {
		return err
	}
	for _, v := range p.Memory {
		if v.Kind == image.VMAFile && v.File != nil && !v.File.Deleted {
			// A file mapped shared and writable is the app's own data: it may
			// have changed since, like a file written through an fd.
			writable := v.Shared && v.Prot&image.ProtWrite != 0
			if err := sameFile(fmt.Sprintf("the file mapped at %#x", uint64(v.Start)), v.File, writable); err != nil {
				return err
			}
		}
	}
	for _, f := range p.FDs {
		if f.Stdio != nil || f.File == nil || f.File.Deleted {
			continue
		}
		what := fmt.Sprintf("the file of fd %d", f.FD)
		switch f.Kind {
		case image.FDFile:
			if err := sameFile(what, f.File, f.Flags&(unix.O_WRONLY|unix.O_RDWR) != 0); err != nil {
				return err
			}
		case image.FDDir, image.FDDevice:
			var st unix.Stat_t
			if err := unix.Stat(f.File.Path, &st); err != nil {
				return fmt.Errorf("%s, %s: %w", what, f.File.Path, err)
			}
			if want := uint32(f.File.Mode) & unix.S_IFMT; want != 0 && st.Mode&unix.S_IFMT != want {
				return fmt.Errorf("%s, %s: %w (type %o, was %o)", what, f.File.Path, ErrChanged, st.Mode&unix.S_IFMT, uint32(f.File.Mode)&unix.S_IFMT)
			}
		}
	}
	return nil
}

// sameFile checks a file against its saved identity. A writable file may have
// grown (Prepare truncates it back) but not shrunk.
func sameFile(what string, id *image.FileIdentity, writable bool) error {
	var st unix.Stat_t
	if err := unix.Stat(id.Path, &st); err != nil {
		return fmt.Errorf("%s %s: %w", what, id.Path, err)
	}
	mtime := time.Unix(st.Mtim.Sec, st.Mtim.Nsec)
	if writable {
		if st.Size < id.Size {
			return fmt.Errorf("%s %s: %w: it shrank from %d to %d bytes, below what the app had written", what, id.Path, ErrChanged, id.Size, st.Size)
		}
		return nil
	}
	if st.Size != id.Size || !mtime.Equal(id.Mtime) {
		return fmt.Errorf("%s %s: %w: size %d, modified %s (at the checkpoint: size %d, modified %s)", what, id.Path, ErrChanged,
			st.Size, mtime.Format(time.RFC3339Nano), id.Size, id.Mtime.Format(time.RFC3339Nano))
	}
	return nil
}

// Prepare truncates files the app had open for writing back to their size
// at checkpoint time, so that what the app writes again after the restore
// is not there twice (an appended log never gets duplicate lines).
func Prepare(p *image.Process) error {
	for _, f := range p.FDs {
		if f.Kind != image.FDFile || f.Stdio != nil || f.File == nil || f.File.Deleted ||
			f.Flags&(unix.O_WRONLY|unix.O_RDWR) == 0 {
			continue
		}
		var st unix.Stat_t
		if err := unix.Stat(f.File.Path, &st); err != nil {
			return fmt.Errorf("fd %d: %s: %w", f.FD, f.File.Path, err)
		}
		if st.Mode&unix.S_IFMT == unix.S_IFREG && st.Size > f.File.Size {
			if err := os.Truncate(f.File.Path, f.File.Size); err != nil {
				return fmt.Errorf("fd %d: truncate %s back to %d bytes: %w", f.FD, f.File.Path, f.File.Size, err)
			}
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
