// Package access answers whether a process's credentials allow an access
// to a path: faccessat2(AT_EACCESS) in a thread of crrun holding the
// process's fsuid, fsgid and supplementary groups (setfsuid/setfsgid/
// setgroups apply to the calling thread only). Moving fsuid from 0 to
// another uid drops the file-system capabilities (CAP_DAC_OVERRIDE & co.)
// from that thread's effective set, so the answer is the one the user would
// get. The thread is never given back to the Go scheduler: its goroutine
// ends locked, which ends the thread. The restore checks every path it
// opens on an app's behalf with it (restore/access.go); the checkpoint
// checks that a restore will be able to open them again.
package access

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"unsafe"

	"github.com/crrun/crrun/image"

	"golang.org/x/sys/unix"
)

// Req is one access a restore makes on a process's behalf.
type Req struct {
	What string // "the file of fd 3"
	Path string
	Mode uint32 // R_OK, W_OK, X_OK or F_OK
}

// Privileged reports whether creds get past file permissions anyway (fsuid
// root, or CAP_DAC_OVERRIDE in the effective set).
func Privileged(c image.Credentials) bool {
	const capDACOverride = 1
	return c.FSUID == 0 || uint64(c.CapEffective)&(1<<capDACOverride) != 0
}

// Check checks every request with creds; as an ordinary user (who cannot
// take other ids) with crrun's own. The error names the request and why.
func Check(creds image.Credentials, reqs []Req, why string) error {
	if Privileged(creds) || len(reqs) == 0 {
		return nil
	}
	return AsCreds(creds, func() error {
		for _, r := range reqs {
			if err := unix.Faccessat2(unix.AT_FDCWD, r.Path, r.Mode, unix.AT_EACCESS); err != nil {
				return fmt.Errorf("%s %s: the app's credentials (uid %d, gid %d, groups %v) do not allow %s: %w: %s",
					r.What, r.Path, creds.FSUID, creds.FSGID, creds.Groups, ModeName(r.Mode), err, why)
			}
		}
		return nil
	})
}

// ModeName says an access mode in words.
func ModeName(m uint32) string {
	if m == unix.F_OK {
		return "reaching it"
	}
	var s []string
	for _, b := range []struct {
		bit  uint32
		name string
	}{{unix.R_OK, "reading"}, {unix.W_OK, "writing"}, {unix.X_OK, "executing (searching)"}} {
		if m&b.bit != 0 {
			s = append(s, b.name)
		}
	}
	return strings.Join(s, " and ")
}

// OpenMode is what faccessat checks for an open with these flags.
func OpenMode(flags uint64) uint32 {
	if flags&unix.O_PATH != 0 {
		return unix.F_OK
	}
	switch flags & unix.O_ACCMODE {
	case unix.O_WRONLY:
		return unix.W_OK
	case unix.O_RDWR:
		return unix.R_OK | unix.W_OK
	}
	return unix.R_OK
}

// AsCreds runs f in a thread holding the file-system ids and supplementary
// groups of creds (only when crrun is root: an ordinary user's crrun runs f
// as it is). The thread dies afterwards.
func AsCreds(creds image.Credentials, f func() error) error {
	if os.Geteuid() != 0 || Privileged(creds) {
		return f()
	}
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		// Never unlocked: the thread exits with this goroutine, its ids with it.
		if err := setThreadFSCreds(creds); err != nil {
			errc <- err
			return
		}
		errc <- f()
	}()
	return <-errc
}

// setThreadFSCreds gives the calling thread (only) the groups, fsgid and
// fsuid of creds, and checks that it holds them.
func setThreadFSCreds(c image.Credentials) error {
	var p unsafe.Pointer
	if len(c.Groups) > 0 {
		p = unsafe.Pointer(&c.Groups[0])
	}
	if _, _, e := unix.RawSyscall(unix.SYS_SETGROUPS, uintptr(len(c.Groups)), uintptr(p), 0); e != 0 {
		return fmt.Errorf("setgroups(%v) in a checking thread: %w", c.Groups, e)
	}
	unix.RawSyscall(unix.SYS_SETFSGID, uintptr(c.FSGID), 0, 0)
	unix.RawSyscall(unix.SYS_SETFSUID, uintptr(c.FSUID), 0, 0)
	// setfs[ug]id return the previous id and no error: ask with an invalid one.
	gid, _, _ := unix.RawSyscall(unix.SYS_SETFSGID, ^uintptr(0), 0, 0)
	uid, _, _ := unix.RawSyscall(unix.SYS_SETFSUID, ^uintptr(0), 0, 0)
	if uint32(uid) != c.FSUID || uint32(gid) != c.FSGID {
		return fmt.Errorf("a checking thread could not take fsuid %d, fsgid %d (has %d, %d)", c.FSUID, c.FSGID, uid, gid)
	}
	return nil
}
