package checkpoint

import (
	"os"
	"strings"
	"testing"
)

// A new network namespace with lo up shows lo's addresses and routes; the
// host's, compared with it, shows its other interfaces.
func TestFreshNetConfig(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: unshare(CLONE_NEWNET)")
	}
	conf, err := freshNetConfig()
	if err != nil {
		t.Fatal(err)
	}
	all := strings.Join(conf, "\n")
	for _, want := range []string{"dev: interface lo", "if_inet6: 00000000000000000000000000000001", "fib_trie: |-- 127.0.0.1"} {
		if !strings.Contains(all, want) {
			t.Errorf("no %q in a new namespace's configuration:\n%s", want, all)
		}
	}
	if strings.Contains(all, "eth0") {
		t.Errorf("the host's interfaces in a new namespace's configuration:\n%s", all)
	}
}
