package checkpoint

import (
	"fmt"
	"os"

	"github.com/crrun/crrun/image"
	"github.com/crrun/crrun/internal/access"
	"github.com/crrun/crrun/seccomp"

	"golang.org/x/sys/unix"
)

// reopenRefusal checks that a restore will be able to open again, by path
// and with the process's own credentials, what it holds by path: the files
// of its fds and mappings, its executable and working directory
// (restore.checkProcess makes the same checks before restoring another
// user's image). An app keeps an fd whatever happens to its file's mode
// afterwards: a file opened read-write and then made read-only (chmod
// 0400, or 000) was accepted by an ordinary user's checkpoint, and its
// restore failed on the open (EACCES): an ordinary user's restore opens
// files as that user. Root's restore of its own image opens them as root
// (the process takes its credentials afterwards), so root's checkpoint
// has nothing to check; nor has a deleted working directory (recreated).
func reopenRefusal(host int, p *image.Process) error {
	if os.Geteuid() == 0 {
		return nil
	}
	var reqs []access.Req
	reqs = append(reqs, access.Req{What: "the executable", Path: p.Exe.Path, Mode: unix.X_OK})
	if p.Cwd != "" && p.Root == "" && p.CwdFile == nil {
		reqs = append(reqs, access.Req{What: "the working directory", Path: p.Cwd, Mode: unix.X_OK})
	}
	for _, v := range p.Memory {
		if v.Kind != image.VMAFile || v.File == nil || v.File.Deleted || v.Content != "" || v.File.Path == p.Exe.Path {
			continue
		}
		mode := uint32(unix.R_OK)
		if v.Shared && v.Prot&image.ProtWrite != 0 {
			mode |= unix.W_OK
		}
		reqs = append(reqs, access.Req{What: fmt.Sprintf("the file mapped at %#x", uint64(v.Start)), Path: v.File.Path, Mode: mode})
	}
	for _, f := range p.FDs {
		if f.Stdio != nil || f.File == nil || f.File.Deleted || f.Procfs || f.Pty != nil || uint32(f.File.Mode)&unix.S_IFMT == unix.S_IFLNK {
			continue
		}
		switch f.Kind {
		case image.FDFile, image.FDDir, image.FDDevice, image.FDFIFO:
			reqs = append(reqs, access.Req{What: fmt.Sprintf("the file of fd %d", f.FD), Path: f.File.Path, Mode: access.OpenMode(uint64(f.Flags))})
		}
	}
	err := access.Check(p.Creds, reqs, "a restore opens it again by its path, with those credentials (its mode or a directory's changed since it was opened?): not supported")
	if err == nil {
		return nil
	}
	return &NotCheckpointableError{Findings: []seccomp.Finding{{Pid: host, Kind: "reopen", Fd: -1,
		Reason: fmt.Sprintf("CR: pid %d: %v", p.PID, err)}}}
}
