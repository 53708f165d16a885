package procfs

import (
	"errors"
	"fmt"
	"io/fs"
	"syscall"
)

// ErrMalformed is matched (errors.Is) by every *ParseError: the kernel produced
// content this package does not understand, or a test fixture is wrong.
var ErrMalformed = errors.New("procfs: malformed content")

// ParseError reports content of a /proc file that could not be parsed.
type ParseError struct {
	Path string // the file that was parsed
	Line int    // 1-based line number; 0 when the file is not line-oriented
	Msg  string // what was wrong, with the offending text
}

// Error implements error.
func (e *ParseError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("procfs: %s:%d: %s", e.Path, e.Line, e.Msg)
	}
	return fmt.Sprintf("procfs: %s: %s", e.Path, e.Msg)
}

// Unwrap returns ErrMalformed so callers can test with errors.Is.
func (e *ParseError) Unwrap() error { return ErrMalformed }

func parseErr(path string, line int, format string, args ...any) error {
	return &ParseError{Path: path, Line: line, Msg: fmt.Sprintf(format, args...)}
}

// vanished wraps ESRCH. The kernel returns ESRCH instead of ENOENT when a /proc file
// was opened before its task was reaped and is read after: the caller must see the
// same "process is gone" answer either way.
type vanished struct{ err error }

func (v vanished) Error() string { return v.err.Error() + " (process vanished)" }
func (v vanished) Unwrap() error { return v.err }
func (v vanished) Is(target error) bool {
	return target == fs.ErrNotExist
}

// pathErr wraps a system call error with the operation and the path, turning ESRCH
// into an error that also matches fs.ErrNotExist.
func pathErr(op, path string, err error) error {
	if errors.Is(err, syscall.ESRCH) {
		err = vanished{err}
	}
	return &fs.PathError{Op: op, Path: path, Err: err}
}
