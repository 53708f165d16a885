package checkpoint

import (
	"strings"
	"testing"

	"github.com/crrun/crrun/image"
)

// TestParseLock: fdinfo "lock:" lines become image locks, or refusals
// that say why.
func TestParseLock(t *testing.T) {
	d := &dumper{t: &tree{}}
	for _, c := range []struct {
		line   string
		want   *image.FileLock
		refuse string
	}{
		{"1: POSIX  ADVISORY  READ 9968 fe:00:9978275 10 14", &image.FileLock{Kind: image.LockPOSIX, Start: 10, End: 14, Pid: 7}, ""},
		{"2: POSIX  ADVISORY  WRITE 9968 fe:00:9978275 20 EOF", &image.FileLock{Kind: image.LockPOSIX, Write: true, Start: 20, End: -1, Pid: 7}, ""},
		{"1: OFDLCK ADVISORY  WRITE -1 fe:00:9978275 0 4", &image.FileLock{Kind: image.LockOFD, Write: true, Start: 0, End: 4}, ""},
		{"1: FLOCK  ADVISORY  READ 0 fe:00:9978322 0 EOF", &image.FileLock{Kind: image.LockFlock, End: -1}, ""},
		{"1: -> POSIX  ADVISORY  WRITE 9968 fe:00:9978275 0 EOF", nil, ""},
		{"1: LEASE  BREAKING  UNLCK 9421 fe:00:9986239 0 EOF", nil, "a lease being broken"},
		{"1: LEASE  ACTIVE    READ 0 fe:00:9986239 0 EOF", nil, "a lease cannot be taken again"},
		{"1: DELEG  ACTIVE    READ 12 fe:00:9986239 0 EOF", nil, "NFS delegation"},
		{"1: POSIX  MANDATORY WRITE 9968 fe:00:9978275 0 EOF", nil, "mandatory"},
		{"1: ACCESS ADVISORY  READ 9968 fe:00:9978275 0 EOF", nil, "cannot be taken again"},
		{"garbage", nil, "cannot parse"},
	} {
		got, err := d.parseLock(c.line, 7)
		switch {
		case c.refuse != "":
			if err == nil || !strings.Contains(err.Error(), c.refuse) {
				t.Errorf("%q: error %v, want one saying %q", c.line, err, c.refuse)
			}
		case err != nil:
			t.Errorf("%q: %v", c.line, err)
		case (got == nil) != (c.want == nil) || got != nil && *got != *c.want:
			t.Errorf("%q: %+v, want %+v", c.line, got, c.want)
		}
	}
}
