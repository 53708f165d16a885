package restore

import (
	"fmt"
	"os"
	"os/user"
	"runtime"
	"strconv"
	"strings"
	"unsafe"

	"github.com/crrun/crrun/image"

	"golang.org/x/sys/unix"
)

// Files the restore opens on the app's behalf (the executable, mapped
// files, files opened by path, the working directory) are opened by the
// restorer, which may be root, in a process that only takes the app's
// credentials at the very end. So that root restoring a user's image never
// hands the app a file that user could not open (/etc/shadow), every such
// path is checked beforehand with the process's own credentials: in a
// thread of crrun holding the process's fsuid, fsgid and supplementary
// groups (setfsuid/setfsgid/setgroups apply to the calling thread only),
// faccessat2(AT_EACCESS) with the access the open will ask for. Moving
// fsuid from 0 to another uid drops the file-system capabilities
// (CAP_DAC_OVERRIDE & co.) from that thread's effective set, so the answer
// is the one the user would get. The thread is never given back to the Go
// scheduler: its goroutine ends locked, which ends the thread.
//
// The check and the open are separate moments: a path the user controls
// (a symlink in their directory) could be switched between them. The
// identity checks (device and inode on the same host) narrow that to the
// restore's own few milliseconds; opening in the restored process after it
// took the app's credentials would close it, and is left for later.

// ownerHas checks that the credentials an image gives a process are ones
// its owner has: the owner's uid in every uid field, gids among the owner's
// groups, and no capabilities unless the owner is root. Who can write an
// image can write any credentials into it.
func ownerHas(owner uint32, c image.Credentials) error {
	if owner == 0 {
		return nil
	}
	u, err := user.LookupId(strconv.FormatUint(uint64(owner), 10))
	if err != nil {
		return fmt.Errorf("the image's owner, uid %d: %w", owner, err)
	}
	gids := map[uint32]bool{}
	if g, err := strconv.ParseUint(u.Gid, 10, 32); err == nil {
		gids[uint32(g)] = true
	}
	if list, err := u.GroupIds(); err == nil {
		for _, s := range list {
			if g, err := strconv.ParseUint(s, 10, 32); err == nil {
				gids[uint32(g)] = true
			}
		}
	}
	for _, id := range []uint32{c.UID, c.EUID, c.SUID, c.FSUID} {
		if id != owner {
			return fmt.Errorf("the image gives it uid %d, but the image belongs to uid %d (%s): a restore never grants more than the image's owner has",
				id, owner, u.Username)
		}
	}
	for _, id := range append([]uint32{c.GID, c.EGID, c.SGID, c.FSGID}, c.Groups...) {
		if !gids[id] {
			return fmt.Errorf("the image gives it gid %d, which the image's owner uid %d (%s) is not a member of: a restore never grants more than the image's owner has",
				id, owner, u.Username)
		}
	}
	if c.CapPermitted != 0 || c.CapEffective != 0 || c.CapAmbient != 0 || c.CapInheritable != 0 {
		return fmt.Errorf("the image gives it capabilities (permitted %#x, effective %#x), but it belongs to uid %d (%s): a restore never grants more than the image's owner has",
			uint64(c.CapPermitted), uint64(c.CapEffective), owner, u.Username)
	}
	return nil
}

// accessReq is one access the restore will make on a process's behalf.
type accessReq struct {
	what string // "the file of fd 3"
	path string
	mode uint32 // R_OK, W_OK, X_OK or F_OK
}

// privileged reports whether creds get past file permissions anyway (fsuid
// root, or CAP_DAC_OVERRIDE in the effective set): then there is nothing
// to check.
func privileged(c image.Credentials) bool {
	const capDACOverride = 1
	return c.FSUID == 0 || uint64(c.CapEffective)&(1<<capDACOverride) != 0
}

// checkAccess checks every request with the credentials creds. As an
// ordinary user the restorer's own permissions already are the limit
// (crrun cannot take other ids), so only root checks.
func checkAccess(creds image.Credentials, reqs []accessReq) error {
	if os.Geteuid() != 0 || privileged(creds) || len(reqs) == 0 {
		return nil
	}
	return asCreds(creds, func() error {
		for _, r := range reqs {
			if err := unix.Faccessat2(unix.AT_FDCWD, r.path, r.mode, unix.AT_EACCESS); err != nil {
				return fmt.Errorf("%s %s: the app's credentials (uid %d, gid %d, groups %v) do not allow %s: %w: "+
					"restoring it as root would grant the app more than it had",
					r.what, r.path, creds.FSUID, creds.FSGID, creds.Groups, modeName(r.mode), err)
			}
		}
		return nil
	})
}

func modeName(m uint32) string {
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

// asCreds runs f in a thread holding the file-system ids and supplementary
// groups of creds (only when crrun is root: an ordinary user's crrun runs f
// as it is). The thread dies afterwards.
func asCreds(creds image.Credentials, f func() error) error {
	if os.Geteuid() != 0 || privileged(creds) {
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
