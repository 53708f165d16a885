package checkpoint

import (
	"os"
	"slices"
	"testing"

	"golang.org/x/sys/unix"
)

// TestStreamRightsRuns: the kernel facts drainStream stands on, then
// drainStream itself on a socketpair of this process (pidfd_getfd of
// itself): it finds each run that carries files, start and end, and
// leaves the queue as it was.
func TestStreamRightsRuns(t *testing.T) {
	sv, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer closeAll(sv[:])
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	defer closeAll(p[:])
	send := func(b string, fds ...int) {
		t.Helper()
		var oob []byte
		if len(fds) > 0 {
			oob = unix.UnixRights(fds...)
		}
		if err := unix.Sendmsg(sv[0], []byte(b), oob, nil, 0); err != nil {
			t.Fatal(err)
		}
	}
	send("aaaa")
	send("bbbb", p[0])
	send("cc")
	send("dd", p[0], p[1])
	send("ee", p[1])
	send("ff")
	const n = 16
	// A peek of one byte at offset 0, in the plain run, returns the
	// files of the next run: a peek cannot find where a run starts.
	b, oob := make([]byte, n), make([]byte, unix.CmsgSpace(16*4))
	if _, oobn, _, _, err := unix.Recvmsg(sv[1], b[:1], oob, unix.MSG_PEEK|unix.MSG_DONTWAIT); err != nil {
		t.Fatal(err)
	} else if fds := rightsOf(oob[:oobn]); len(fds) != 1 {
		t.Errorf("a peek of the first byte got %d files, want 1 (of the run after it)", len(fds))
	} else {
		closeAll(fds)
	}
	data, segs, _, err := peekQueue(os.Getpid(), sv[1], n)
	if err != nil {
		t.Fatal(err)
	}
	ends := fdEnds(segs)
	if want := []int{8, 12, 14}; !slices.Equal(ends, want) {
		t.Fatalf("the peek walk's carrying runs end at %v, want %v", ends, want)
	}
	q, err := drainStream(os.Getpid(), sv[1], os.Getpid(), sv[0], n, ends, false)
	defer closeAll(runFds(q.runs))
	if err != nil {
		t.Fatal(err)
	}
	var lens, nfds []int
	for _, r := range q.runs {
		lens, nfds = append(lens, r.n), append(nfds, len(r.fds))
	}
	if string(q.data) != string(data) || !slices.Equal(lens, []int{4, 4, 2, 2, 2, 2}) || !slices.Equal(nfds, []int{0, 1, 0, 2, 1, 0}) {
		t.Errorf("runs %v with %v files (%q), want [4 4 2 2 2 2] with [0 1 0 2 1 0] (%q)", lens, nfds, q.data, data)
	}
	if err := samePeek(os.Getpid(), sv[1], q, segs); err != nil {
		t.Errorf("the queue sent again: %v", err)
	}
	// Read as the app would: the plain bytes glue to the run after them.
	for _, want := range []struct {
		s     string
		files int
	}{{"aaaabbbb", 1}, {"ccdd", 2}, {"ee", 1}, {"ff", 0}} {
		m, oobn, _, _, err := unix.Recvmsg(sv[1], b, oob, unix.MSG_DONTWAIT)
		if err != nil {
			t.Fatal(err)
		}
		fds := rightsOf(oob[:oobn])
		closeAll(fds)
		if string(b[:m]) != want.s || len(fds) != want.files {
			t.Errorf("read %q with %d files, want %q with %d", b[:m], len(fds), want.s, want.files)
		}
	}
	if c := carryCap(); c != 0 && c < 4096 {
		t.Errorf("carryCap %d: a carrying sk_buff holds at least a page", c)
	}
}
