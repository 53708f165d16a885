package image

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// openWithin opens dir and fails the test if Open does not return within
// 5 s (a FIFO opened for reading waits for a writer forever).
func openWithin(t *testing.T, dir string) error {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		r, _, err := OpenPath(dir, true)
		if err == nil {
			r.Close()
		}
		done <- err
	}()
	select {
	case err := <-done:
		return err
	case <-time.After(5 * time.Second):
		t.Fatalf("opening %s hangs", dir)
	}
	return nil
}

// TestWrongFileTypes: every file of an image that is not a regular file is
// an error naming it, never a hang, a followed link or an opened device.
func TestWrongFileTypes(t *testing.T) {
	replace := func(t *testing.T, name string, make func(path string) error) string {
		dir := goodImage(t)
		path := filepath.Join(dir, name)
		if err := os.Remove(path); err != nil {
			t.Fatal(err)
		}
		if err := make(path); err != nil {
			t.Skipf("cannot create the replacement: %v", err)
		}
		return dir
	}
	fifo := func(path string) error { return unix.Mkfifo(path, 0o600) }
	for _, c := range []struct {
		name, file, what string
		make             func(string) error
	}{
		{"fifo manifest", ManifestFile, "a FIFO", fifo},
		{"fifo meta", MetaFile, "a FIFO", fifo},
		{"fifo page file", "pages-100.bin", "a FIFO", fifo},
		{"directory meta", MetaFile, "a directory", func(p string) error { return os.Mkdir(p, 0o700) }},
		{"directory manifest", ManifestFile, "a directory", func(p string) error { return os.Mkdir(p, 0o700) }},
		{"symlink outside", MetaFile, "a symbolic link", func(p string) error { return os.Symlink("/etc/passwd", p) }},
		{"symlink manifest outside", ManifestFile, "a symbolic link", func(p string) error { return os.Symlink("/etc/passwd", p) }},
		{"device manifest", ManifestFile, "a character device", func(p string) error { return unix.Mknod(p, unix.S_IFCHR|0o600, int(unix.Mkdev(1, 3))) }},
		{"device meta", MetaFile, "a character device", func(p string) error { return unix.Mknod(p, unix.S_IFCHR|0o600, int(unix.Mkdev(1, 3))) }},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := replace(t, c.file, c.make)
			err := openWithin(t, dir)
			if err == nil {
				t.Fatalf("an image whose %s is %s opened", c.file, c.what)
			}
			if !strings.Contains(err.Error(), c.file) || !strings.Contains(err.Error(), c.what) {
				t.Fatalf("error %q does not name %s and %s", err, c.file, c.what)
			}
			t.Logf("as expected: %v", err)
		})
	}
	t.Run("fifo as the image directory", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "img")
		if err := unix.Mkfifo(path, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := openWithin(t, path); err == nil || !strings.Contains(err.Error(), path) {
			t.Fatalf("a FIFO as the image: %v", err)
		}
	})
}

// TestCheckOwner: an image another uid owns, or that its group or everyone
// may write, is untrusted, naming the path and the owner.
func TestCheckOwner(t *testing.T) {
	uid := os.Geteuid()
	open := func(t *testing.T, dir string) *Reader {
		r, err := Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { r.Close() })
		return r
	}
	t.Run("own", func(t *testing.T) {
		if err := open(t, goodImage(t)).CheckOwner(uid); err != nil {
			t.Fatal(err)
		}
	})
	want := func(t *testing.T, err error, path string, words ...string) {
		t.Helper()
		var ue *UntrustedError
		if !errors.As(err, &ue) || !errors.Is(err, ErrUntrusted) {
			t.Fatalf("got %v, want an *UntrustedError", err)
		}
		for _, w := range append(words, path, "--trust-image") {
			if !strings.Contains(err.Error(), w) {
				t.Fatalf("error %q does not say %q", err, w)
			}
		}
		t.Logf("as expected: %v", err)
	}
	for _, c := range []struct {
		name, file string
		chmod      os.FileMode
		words      []string
	}{
		{"group-writable dir", "", 0o770, []string{"writable by its group"}},
		{"world-writable file", "pages-100.bin", 0o606, []string{"writable by everyone"}},
		{"group-writable manifest", ManifestFile, 0o660, []string{"writable by its group"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := goodImage(t)
			r := open(t, dir)
			path := filepath.Join(dir, c.file)
			if err := os.Chmod(path, c.chmod); err != nil {
				t.Fatal(err)
			}
			want(t, r.CheckOwner(uid), path, c.words...)
		})
	}
	t.Run("another uid", func(t *testing.T) {
		if uid != 0 {
			// As an ordinary user: our own image is someone else's for uid+1.
			dir := goodImage(t)
			want(t, open(t, dir).CheckOwner(uid+1), dir, "belongs to uid")
			return
		}
		for _, file := range []string{"", MetaFile, "pages-100.bin"} {
			dir := goodImage(t)
			r := open(t, dir)
			path := filepath.Join(dir, file)
			if err := os.Lchown(path, 65534, 65534); err != nil {
				t.Fatal(err)
			}
			want(t, r.CheckOwner(0), path, "belongs to uid 65534", "not to you (uid 0")
		}
	})
	t.Run("store", func(t *testing.T) {
		dir := t.TempDir()
		if err := CheckStoreOwner(dir, uid); err != nil {
			t.Fatal(err)
		}
		os.Chmod(dir, 0o777)
		want(t, CheckStoreOwner(dir, uid), dir, "writable by everyone")
	})
}
