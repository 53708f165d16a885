package image

import (
	"errors"
	"path/filepath"
)

// Sentinel errors. Every error the Reader returns about the content of an
// image is an *Error that wraps exactly one of these, so callers can test
// with errors.Is while the message names the offending file and says what was
// wrong with it.
var (
	// ErrImageIncomplete means the image has no manifest: the checkpoint was
	// never committed (a crash or an error while writing it, or a directory
	// that is not a checkpoint at all).
	ErrImageIncomplete = errors.New("image incomplete")

	// ErrImageCorrupt means the image was committed but does not match its
	// manifest or is internally inconsistent: a missing or truncated file, a
	// checksum mismatch, invalid JSON, a bad magic, an entry that contradicts
	// another one, or a size over the limits of this package.
	ErrImageCorrupt = errors.New("image corrupt")

	// ErrImageVersion means the image is well formed but this crrun cannot
	// read it: an unknown format version, a required feature this crrun does
	// not know, or another architecture or page size.
	ErrImageVersion = errors.New("unsupported image version")

	// ErrNoImage means a store of generations holds no complete and valid
	// generation.
	ErrNoImage = errors.New("no usable checkpoint image")
)

// Error describes what is wrong with an image. It unwraps to one of the
// sentinel errors above (Err) and, when there is one, to the underlying
// cause (an I/O error, or for ErrNoImage the reasons every generation was
// skipped).
type Error struct {
	Dir    string // the image (or store) directory
	File   string // file name inside Dir, "" when the directory itself is meant
	Err    error  // ErrImageIncomplete, ErrImageCorrupt, ErrImageVersion or ErrNoImage
	Detail string // what was wrong, for people
	Cause  error  // optional underlying error
}

// Path is the path of the offending file (or of the directory if File is empty).
func (e *Error) Path() string {
	if e.File == "" {
		return e.Dir
	}
	return filepath.Join(e.Dir, e.File)
}

// Error formats as "<path>: <sentinel>: <detail>[: <cause>]", for example
//
//	/ckpt/gen-000002/pages-42.bin: image corrupt: checksum mismatch in pages of pid 42 ...
func (e *Error) Error() string {
	s := e.Path() + ": " + e.Err.Error()
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	if e.Cause != nil {
		s += ": " + e.Cause.Error()
	}
	return s
}

// Unwrap returns the sentinel and the cause, for errors.Is and errors.As.
func (e *Error) Unwrap() []error {
	if e.Cause == nil {
		return []error{e.Err}
	}
	return []error{e.Err, e.Cause}
}

func newError(sentinel error, dir, file, detail string, cause error) *Error {
	return &Error{Dir: dir, File: file, Err: sentinel, Detail: detail, Cause: cause}
}
