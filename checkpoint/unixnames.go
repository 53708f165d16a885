package checkpoint

import (
	"fmt"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// Path names of AF_UNIX sockets. A socket keeps the name it was bound to
// after its file is unlinked, or after another socket bound the same name
// once the first file was removed: the names alone do not say which socket
// a connect(2) to the path reaches now. sock_diag's UNIX_DIAG_VFS gives the
// inode of each socket's own file; the one whose inode the path names now
// owns it, the others are "unlinked" (image.Socket.Unlinked): restore binds
// them first and removes their files afterwards.

// unlinkedNames marks the sockets of refs whose path no longer names them.
// It refuses what restore could not rebuild exactly: a connection made
// through an unlinked socket's name when another socket owns the name now
// (remaking it through the name would reach the wrong one), and a name
// whose path is now something else than a socket of the app.
func (t *tree) unlinkedNames(refs []fdRef, diag map[uint64]unixDiag, refuse func(fdRef, string, ...any)) {
	type nameState struct {
		owned     bool // a socket of the app owns the path now
		unlinked  bool // a socket of the app bound to it does not
		other     bool // the path is something else now
		connected bool // a connection was accepted through an unlinked listener of that name
	}
	names := map[string]*nameState{}
	cwd := ""
	if len(t.live) > 0 {
		cwd, _ = filepath.EvalSymlinks(fmt.Sprintf("/proc/%d/cwd", t.live[0]))
	}
	path := func(name string) string {
		if filepath.IsAbs(name) || cwd == "" {
			return name
		}
		return filepath.Join(cwd, name)
	}
	unlinkedIno := map[uint64]bool{}
	for _, r := range refs {
		s := r.p.FDs[r.idx].Socket
		u, ok := diag[s.Inode]
		if !ok || u.name == "" || strings.HasPrefix(u.name, "\x00") || u.vfsIno == 0 {
			continue // unbound, abstract, or an accepted socket (its name is its listener's)
		}
		ns := names[u.name]
		if ns == nil {
			ns = &nameState{}
			names[u.name] = ns
		}
		var st unix.Stat_t
		err := unix.Stat(path(u.name), &st)
		switch {
		case err == nil && st.Ino == u.vfsIno && unix.Major(st.Dev) == u.vfsDev>>20 && unix.Minor(st.Dev) == u.vfsDev&0xfffff:
			ns.owned = true
		case err == nil && st.Mode&unix.S_IFMT != unix.S_IFSOCK:
			ns.other = true
			ns.unlinked = true
			s.Unlinked = true
			unlinkedIno[s.Inode] = true
		default:
			ns.unlinked = true
			s.Unlinked = true
			unlinkedIno[s.Inode] = true
		}
	}
	// Accepted sockets carry their listener's name and no file of their own.
	for _, r := range refs {
		s := r.p.FDs[r.idx].Socket
		if u, ok := diag[s.Inode]; ok && u.vfsIno == 0 && u.name != "" && names[u.name] != nil && names[u.name].unlinked {
			names[u.name].connected = true
		}
	}
	for _, r := range refs {
		s := r.p.FDs[r.idx].Socket
		u := diag[s.Inode]
		ns := names[u.name]
		if ns == nil || !unlinkedIno[s.Inode] {
			continue
		}
		switch {
		case ns.other:
			refuse(r, "unix socket bound to %q, a path that is now a file of another kind: not supported", u.name)
		case ns.owned && ns.connected:
			refuse(r, "unix socket bound to %q, whose name another socket of the app has bound since, with connections accepted through it: not supported yet", u.name)
		}
	}
}
