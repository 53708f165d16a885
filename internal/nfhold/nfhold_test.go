package nfhold

import (
	"net/netip"
	"os"
	"slices"
	"testing"
)

func count(t *testing.T, tag string) int {
	t.Helper()
	tags, err := Tags()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, x := range tags {
		if x == tag {
			n++
		}
	}
	return n
}

// TestHoldRelease: a hold is two rules with its tag (input, output), gone
// after its release; live rules of a crrun that is gone are swept, those
// of a live one kept.
func TestHoldRelease(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (CAP_NET_ADMIN for nf_tables)")
	}
	if err := Probe(); err != nil {
		t.Skipf("nf_tables unavailable here: %v", err)
	}
	k := Conn{Local: netip.MustParseAddrPort("127.0.0.1:9"), Peer: netip.MustParseAddrPort("127.0.0.1:7")}
	k6 := Conn{Local: netip.MustParseAddrPort("[::1]:9"), Peer: netip.MustParseAddrPort("[::1]:7")}
	mine := LiveTag("unit")
	dead := "live 2147483647 1 unit" // no such pid
	for _, tag := range []string{mine, dead} {
		if err := Hold(tag, []Conn{k, k6}); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { _ = Release(mine); _ = Release(dead) })
	if n := count(t, mine); n != 4 {
		t.Fatalf("%d rules tagged %q, want 4", n, mine)
	}
	if err := Sweep(); err != nil {
		t.Fatal(err)
	}
	if n := count(t, dead); n != 0 {
		t.Errorf("%d rules of a crrun that is gone after the sweep", n)
	}
	if n := count(t, mine); n != 4 {
		t.Errorf("%d rules of this live process after the sweep, want 4", n)
	}
	if err := Release(mine); err != nil {
		t.Fatal(err)
	}
	tags, _ := Tags()
	if slices.Contains(tags, mine) {
		t.Errorf("rules tagged %q after their release", mine)
	}
}
