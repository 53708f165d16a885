package tests

import (
	"errors"
	"fmt"
	"os/exec"
	"sync"
	"syscall"
	"testing"
)

// execAs prepares cmd to run as uid (and the same gid number).
func execAs(uid uint32, name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: uid}}
	return cmd
}

var (
	int80Once   sync.Once
	int80Reason string
)

// requireInt80 skips a test that makes i386 system calls (`int $0x80`) where
// the kernel does not emulate them. The kernel config may say
// IA32_EMULATION=y while a boot option or build default turns it off
// (`int $0x80` then raises SIGSEGV), so the only honest probe is to make
// one natively: the nocr victim's socket_i386 mode, outside crrun.
func requireInt80(t *testing.T, nocr string) {
	t.Helper()
	int80Once.Do(func() {
		err := exec.Command(nocr, "socket_i386").Run()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				int80Reason = fmt.Sprintf("needs 32-bit syscall emulation: `int $0x80` dies with %v natively on this kernel (ia32_emulation off)", ws.Signal())
			}
		}
	})
	if int80Reason != "" {
		t.Skip(int80Reason)
	}
}
