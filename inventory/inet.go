package inventory

import "os"

// netOf says whose network namespace a process is in: "host" when it is
// the observer's own (crrun runs in the host's), "private" otherwise (the
// app's own, --net=private). Inode numbers differ across restores; which of
// the two it is does not.
func netOf(nsLink string) string {
	mine, err1 := os.Readlink("/proc/self/ns/net")
	its, err2 := os.Readlink(nsLink)
	switch {
	case err1 != nil || err2 != nil:
		return "unknown"
	case mine == its:
		return "host"
	}
	return "private"
}
