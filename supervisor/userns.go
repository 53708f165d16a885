package supervisor

import (
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// capCheckpointRestore is CAP_CHECKPOINT_RESTORE (Linux 5.9).
const capCheckpointRestore = 40

// Unprivileged users get a user namespace that maps their own uid and gid to
// themselves (the app sees its own ids) and owns the PID and mount
// namespaces. The init keeps CAP_SYS_ADMIN, CAP_CHECKPOINT_RESTORE,
// CAP_SYS_TIME and CAP_SETPCAP in it as ambient capabilities across its exec
// (a non-root exec drops everything else): to mount /proc, set ns_last_pid,
// let the restore stub clone3 with set_tid, unshare the app's time namespace
// (owned by this user namespace) and set its offsets, and let a restore drop
// bounding capabilities and set securebits as the app had them. The exec stage clears them before it execs the app, and a
// restore sets the saved (empty) capabilities in every thread last.
func userNS(a *syscall.SysProcAttr) {
	if os.Geteuid() == 0 {
		return
	}
	a.Cloneflags |= unix.CLONE_NEWUSER
	a.UidMappings = []syscall.SysProcIDMap{{ContainerID: os.Geteuid(), HostID: os.Geteuid(), Size: 1}}
	a.GidMappings = []syscall.SysProcIDMap{{ContainerID: os.Getegid(), HostID: os.Getegid(), Size: 1}}
	a.GidMappingsEnableSetgroups = false
	// CAP_IPC_OWNER: to read (and recreate) the app's SysV objects
	// whatever their modes.
	a.AmbientCaps = []uintptr{unix.CAP_SYS_ADMIN, capCheckpointRestore, unix.CAP_SYS_TIME, unix.CAP_SETPCAP, unix.CAP_IPC_OWNER}
}

// checkUserNS says clearly when an ordinary user cannot run crrun here.
func checkUserNS() error {
	if os.Geteuid() == 0 {
		return nil
	}
	if b, err := os.ReadFile("/proc/sys/user/max_user_namespaces"); err == nil && string(b) == "0\n" {
		return &Error{Code: ExitInternal, Msg: "crrun needs user namespaces to run as an ordinary user, and they are " +
			"disabled here (/proc/sys/user/max_user_namespaces is 0): ask for them, or run as root"}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/unprivileged_userns_clone"); err == nil && string(b) == "0\n" {
		return &Error{Code: ExitInternal, Msg: "crrun needs user namespaces to run as an ordinary user, and they are " +
			"disabled here (/proc/sys/kernel/unprivileged_userns_clone is 0): ask for them, or run as root"}
	}
	return nil
}

// dropAmbient clears the ambient capabilities before the app is exec'd, so
// that it has none (as without crrun).
func dropAmbient() {
	if os.Geteuid() == 0 {
		return
	}
	_ = unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)
	// and the inheritable set raising ambient caps needed
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if unix.Capget(&hdr, &data[0]) == nil {
		data[0].Inheritable, data[1].Inheritable = 0, 0
		_ = unix.Capset(&hdr, &data[0])
	}
}
