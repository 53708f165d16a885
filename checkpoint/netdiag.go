package checkpoint

import "github.com/crrun/crrun/internal/inetsock"

// diagSocket gives a sock_diag socket of the app's network namespace
// (init: crrun's init) and the function that gives it back.
func diagSocket(init int) (int, func(), error) { return inetsock.DiagSocket(init) }

// sameNetNS reports whether pid is in crrun's network namespace.
func sameNetNS(pid int) bool { return inetsock.SameNetNS(pid) }
