package restore

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/crrun/crrun/image"

	"golang.org/x/sys/unix"
)

// identity takes a file's identity as the checkpoint does.
func identity(t *testing.T, path string, hash bool) *image.FileIdentity {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	id := &image.FileIdentity{Path: path, Dev: image.MakeDev(unix.Major(st.Dev), unix.Minor(st.Dev)), Inode: st.Ino,
		Size: st.Size, Mtime: time.Unix(st.Mtim.Sec, st.Mtim.Nsec), Ctime: time.Unix(st.Ctim.Sec, st.Ctim.Nsec), Mode: image.Octal(st.Mode)}
	if hash {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		h := sha256.Sum256(b)
		id.SHA256 = hex.EncodeToString(h[:])
	}
	return id
}

// rewrite writes b over path in place and puts its mtime back (touch -r).
func rewrite(t *testing.T, path string, b []byte) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(10 * time.Millisecond) // a visible ctime step
	if err := os.WriteFile(path, b, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(path, fi.ModTime(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}
}

func wantErr(t *testing.T, err error, words ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want one saying %q", words)
	}
	for _, w := range words {
		if !strings.Contains(err.Error(), w) {
			t.Fatalf("error %q does not say %q", err, w)
		}
	}
	t.Logf("as expected: %v", err)
}

// TestSameFilePatched: a file patched in place with its size and mtime kept
// (touch -r) is refused, naming the file and the field, on any host.
func TestSameFilePatched(t *testing.T) {
	orig := []byte(strings.Repeat("the program's bytes\n", 100))
	patched := append([]byte(nil), orig...)
	patched[500] ^= 1
	for _, hm := range []hostMatch{otherHost, sameMachine, sameBoot} {
		t.Run(hm.String(), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "exe")
			os.WriteFile(path, orig, 0o755)
			id := identity(t, path, true)
			if _, err := sameFile("the executable", id, false, hm); err != nil {
				t.Fatalf("unchanged: %v", err)
			}
			rewrite(t, path, patched)
			_, err := sameFile("the executable", id, false, hm)
			wantErr(t, err, "the executable", path, "content (sha256")
			// Put back byte for byte: the content proves it the same,
			// whatever the ctime says.
			rewrite(t, path, orig)
			if _, err := sameFile("the executable", id, false, hm); err != nil {
				t.Fatalf("put back: %v", err)
			}
		})
	}
	t.Run("no hash, same host: ctime", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "big")
		os.WriteFile(path, orig, 0o644)
		id := identity(t, path, false)
		rewrite(t, path, patched)
		_, err := sameFile("the file of fd 3", id, false, sameBoot)
		wantErr(t, err, "the file of fd 3", path, "ctime")
		// Elsewhere ctime and inode mean nothing: size and mtime are all
		// there is without a hash.
		if _, err := sameFile("the file of fd 3", id, false, otherHost); err != nil {
			t.Fatalf("another host: %v", err)
		}
	})
	t.Run("replaced, same host: inode", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, "exe")
		os.WriteFile(path, orig, 0o755)
		id := identity(t, path, true)
		fi, _ := os.Stat(path)
		os.WriteFile(path+".new", orig, 0o755)
		os.Chtimes(path+".new", fi.ModTime(), fi.ModTime())
		os.Rename(path+".new", path)
		_, err := sameFile("the executable", id, false, sameBoot)
		wantErr(t, err, path, "inode")
	})
}

// TestCheckAccess: root checking for a user's process sees what the user
// would: /etc/shadow cannot be read.
func TestCheckAccess(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: as an ordinary user crrun's own permissions are the limit")
	}
	nobody := image.Credentials{UID: 65534, EUID: 65534, SUID: 65534, FSUID: 65534, GID: 65534, EGID: 65534, SGID: 65534, FSGID: 65534}
	if err := checkAccess(nobody, []accessReq{{What: "the file of fd 3", Path: "/etc/passwd", Mode: unix.R_OK}}); err != nil {
		t.Fatalf("/etc/passwd for reading: %v", err)
	}
	err := checkAccess(nobody, []accessReq{{What: "the file of fd 3", Path: "/etc/shadow", Mode: unix.R_OK}})
	wantErr(t, err, "the file of fd 3", "/etc/shadow", "uid 65534", "reading")
	err = checkAccess(nobody, []accessReq{{What: "the file mapped at 0x1000", Path: "/etc/passwd", Mode: unix.R_OK | unix.W_OK}})
	wantErr(t, err, "/etc/passwd", "reading and writing")
	// A group grants what the uid does not.
	dir, err := os.MkdirTemp("", "crrun-access-") // t.TempDir's parent is 0700
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	path := filepath.Join(dir, "f")
	os.WriteFile(path, nil, 0o640)
	os.Chown(path, 0, 4242)
	if err := checkAccess(nobody, []accessReq{{What: "f", Path: path, Mode: unix.R_OK}}); err == nil {
		t.Fatal("nobody reads a 0640 root:4242 file")
	}
	withGroup := nobody
	withGroup.Groups = []uint32{4242}
	if err := checkAccess(withGroup, []accessReq{{What: "f", Path: path, Mode: unix.R_OK}}); err != nil {
		t.Fatalf("with group 4242: %v", err)
	}
	// The check leaves crrun root.
	if err := unix.Access("/etc/shadow", unix.R_OK); err != nil {
		t.Fatalf("crrun lost its access: %v", err)
	}
}

// TestApplyTruncates: a grown file is truncated back only if it is still
// the inode Check saw, opened without following a link, with the app's
// credentials.
func TestApplyTruncates(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "log")
	os.WriteFile(path, []byte("line 1\n"), 0o644)
	id := identity(t, path, false)
	os.WriteFile(path, []byte("line 1\nline 2\n"), 0o644)
	st, err := sameFile("the file of fd 3", id, true, sameBoot)
	if err != nil {
		t.Fatal(err)
	}
	creds := image.Credentials{FSUID: uint32(os.Geteuid()), FSGID: uint32(os.Getegid())}
	plan := &Plan{truncs: []truncation{{what: "pid 1: fd 3", path: path, size: id.Size, dev: st.Dev, ino: st.Ino, creds: creds}}}
	if err := plan.Apply(); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); string(b) != "line 1\n" {
		t.Fatalf("after Apply: %q", b)
	}
	// Swapped for a symlink to a file of root's between Check and Apply.
	victim := filepath.Join(dir, "victim")
	os.WriteFile(victim, []byte("precious\n"), 0o644)
	os.Remove(path)
	os.Symlink(victim, path)
	err = plan.Apply()
	wantErr(t, err, "pid 1: fd 3", path)
	if b, _ := os.ReadFile(victim); string(b) != "precious\n" {
		t.Fatalf("the link's target was truncated: %q", b)
	}
	if os.Geteuid() == 0 {
		// A file the app's user may not write is not truncated by root.
		os.Remove(path)
		os.WriteFile(path, []byte("line 1\nline 2\n"), 0o644)
		unix.Stat(path, st)
		nobody := image.Credentials{FSUID: 65534, FSGID: 65534}
		plan := &Plan{truncs: []truncation{{what: "pid 1: fd 3", path: path, size: 7, dev: st.Dev, ino: st.Ino, creds: nobody}}}
		wantErr(t, plan.Apply(), "permission denied")
	}
}
