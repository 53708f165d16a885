package tests

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestNetlinkPortTaken: on the host's network, a netlink socket's port id
// that something else holds now fails the restore, naming it (the corpus,
// netlink_*.c, has what is saved).
func TestNetlinkPortTaken(t *testing.T) {
	t.Parallel()
	requireCR(t)
	requireRoot(t)
	bin := compileC(t, "netlink_port", false)
	store := filepath.Join(t.TempDir(), "ck")
	port := uint32(0x7e570000) | uint32(os.Getpid()&0xffff)
	a := start(t, opts{}, "--dir", store, "--", bin, strconv.FormatUint(uint64(port), 10))
	crWaitStderr(t, a, "netlink_port: running", 30*time.Second)
	crCheckpoint(t, a, store, true)
	a.wait(30 * time.Second)
	s, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(s)
	if err := unix.Bind(s, &unix.SockaddrNetlink{Family: unix.AF_NETLINK, Pid: port}); err != nil {
		t.Fatalf("the checkpointed app's port id %d is not free: %v", port, err)
	}
	res := start(t, opts{}, "restore", store)
	want := "NETLINK_ROUTE port id " + strconv.Itoa(int(int32(port))) + " is taken in this network namespace"
	if code := res.wait(time.Minute); code != 125 || !strings.Contains(res.stderr.String(), want) {
		t.Fatalf("restore: exit %d, want 125 and %q\n%s", code, want, res.stderr)
	}
}
