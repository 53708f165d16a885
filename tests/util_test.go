package tests

import (
	"os/exec"
	"syscall"
)

// execAs prepares cmd to run as uid (and the same gid number).
func execAs(uid uint32, name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: uid}}
	return cmd
}
