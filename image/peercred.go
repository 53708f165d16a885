package image

import "fmt"

// PeerCredRefusal is why a restore could not make a unix socket whose
// SO_PEERCRED is c among the processes procs, or "". The restore makes it
// as a process with c's pid (the app's own, or a stand-in with that pid
// while the pid is free) and c's ids as effective ids; it never gives ids
// no process of the app has (an image is code: a crafted one must not
// mint a peer that claims root).
func PeerCredRefusal(c Ucred, procs []*Process) string {
	if c == NoPeerCred {
		return ""
	}
	if c.Pid <= 0 {
		return fmt.Sprintf("its SO_PEERCRED names a process outside the app's pid namespace (pid %d there, uid %d): a restore cannot make it so: not supported", c.Pid, c.Uid)
	}
	isApp, uid, gid := false, false, false
	for _, p := range procs {
		isApp = isApp || p.PID == c.Pid
		k := p.Creds
		uid = uid || c.Uid == k.UID || c.Uid == k.EUID || c.Uid == k.SUID || c.Uid == k.FSUID
		gid = gid || c.Gid == k.GID || c.Gid == k.EGID || c.Gid == k.SGID || c.Gid == k.FSGID
	}
	if c.Pid == 1 && !isApp {
		return "its SO_PEERCRED names crrun's init (pid 1): a restore cannot make it so: not supported"
	}
	if !uid || !gid {
		return fmt.Sprintf("its SO_PEERCRED names uid %d gid %d, ids no process of the app has: a restore would have to mint them: not supported", c.Uid, c.Gid)
	}
	return ""
}
