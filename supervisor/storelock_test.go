package supervisor

import (
	"os"
	"path/filepath"
	"testing"
)

// TestClaimStoreOnce: a crrun claims a store once, however it names it (a
// symlink, a relative path): a second lock of the same directory from the
// same process would find itself holding it.
func TestClaimStoreOnce(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ckpt")
	link := filepath.Join(t.TempDir(), "link")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(dir, link); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{dir, link, dir + "/"} {
		if err := claimStore(d, []string{"./app"}); err != nil {
			t.Fatalf("claimStore(%s): %v", d, err)
		}
	}
	heldStores.Lock()
	defer heldStores.Unlock()
	real, _ := filepath.EvalSymlinks(dir)
	l := heldStores.locks[real]
	if l == nil || len(heldStores.locks) != 1 {
		t.Fatalf("held stores %v, want one for %s", heldStores.locks, real)
	}
	l.Close()
	heldStores.locks, heldStores.named = nil, nil
}
