package supervisor

import (
	"errors"
	"io/fs"
	"path/filepath"
	"strings"

	"github.com/crrun/crrun/checkpoint"
	"github.com/crrun/crrun/image"

	"golang.org/x/sys/unix"
)

// crrun's own exit statuses beside the app's (docs/design.md, "Exit
// statuses"); the numbers are sysexits.h's where one fits.
const (
	// ExitNotCheckpointable: `crrun checkpoint` could not checkpoint the app
	// (NOCR state; the reasons are printed).
	ExitNotCheckpointable = 1
	// ExitBadImage: the image to restore is corrupt, incomplete or of an
	// unknown format version (EX_DATAERR).
	ExitBadImage = 65
	// ExitIOError: writing the checkpoint failed (no space, quota, I/O
	// error, read-only file system...) (EX_IOERR).
	ExitIOError = 74
	// ExitRefused: the supervisor refused the client (another user)
	// (EX_NOPERM).
	ExitRefused = 77
)

// ioErrnos are the errors of a store that cannot take an image.
var ioErrnos = []error{unix.ENOSPC, unix.EDQUOT, unix.EIO, unix.EROFS, unix.EFBIG}

// checkpointExitCode is what `crrun checkpoint` exits with when the
// checkpoint failed with err: an I/O failure of the store in dir, or else
// "not checkpointed".
func checkpointExitCode(err error, dir string) int {
	if errors.Is(err, checkpoint.ErrNotCheckpointable) {
		return ExitNotCheckpointable
	}
	for _, e := range ioErrnos {
		if errors.Is(err, e) {
			return ExitIOError
		}
	}
	var pe *fs.PathError
	if errors.As(err, &pe) && dir != "" {
		if p := filepath.Clean(pe.Path); p == filepath.Clean(dir) || strings.HasPrefix(p, filepath.Clean(dir)+"/") {
			return ExitIOError
		}
	}
	return ExitNotCheckpointable
}

// imageExitCode is the exit status of a restore that failed to open or
// verify its image with err.
func imageExitCode(err error) int {
	for _, e := range []error{image.ErrImageCorrupt, image.ErrImageIncomplete, image.ErrImageVersion, image.ErrNoImage} {
		if errors.Is(err, e) {
			return ExitBadImage
		}
	}
	return ExitInternal
}
