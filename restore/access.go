package restore

import (
	"fmt"
	"os"
	"os/user"
	"strconv"

	"github.com/crrun/crrun/image"
	"github.com/crrun/crrun/internal/access"
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
type accessReq = access.Req

// checkAccess checks every request with the credentials creds. As an
// ordinary user the restorer's own permissions already are the limit
// (crrun cannot take other ids), so only root checks.
func checkAccess(creds image.Credentials, reqs []accessReq) error {
	if os.Geteuid() != 0 {
		return nil
	}
	return access.Check(creds, reqs, "restoring it as root would grant the app more than it had")
}

// asCreds runs f with creds' file-system ids (access.AsCreds).
func asCreds(creds image.Credentials, f func() error) error { return access.AsCreds(creds, f) }
