package tests

import (
	"path/filepath"
	"regexp"
	"testing"
	"time"
)

// TestCRMisc: directory fds, a deleted-but-open file, the harmless devices,
// O_APPEND with truncation back after a kill, close-on-exec flags, eventfd +
// epoll in C, an ignored signal, ITIMER_PROF, umask, cwd, rlimits, comm and
// the parent-death signal all survive a checkpoint, a SIGKILL and a restore.
func TestCRMisc(t *testing.T) {
	requireCR(t)
	b := compileCR(t, "misc", false)
	crRoundTrip(t, crVictim{name: "misc", argv: []string{b, t.TempDir()},
		lo: 50 * time.Millisecond, hi: 800 * time.Millisecond, exitMode: false})
}

// TestCRDifferentVDSO: an image taken under another kernel (another vdso) is
// refused before anything runs, saying so.
func TestCRDifferentVDSO(t *testing.T) {
	requireCR(t)
	b := compileCR(t, "blocked", false)
	img, _, _ := crImageFor(t, "blocked", "sleeping", 100*time.Millisecond, b, "sleep", "3")
	dst := filepath.Join(t.TempDir(), "image")
	sha := regexp.MustCompile(`("sha256":\s*")[0-9a-f]{64}"`)
	crRewriteImage(t, img, dst, func(name string, data []byte) (string, []byte) {
		if name == "image.json" {
			data = sha.ReplaceAll(data, []byte(`${1}`+"0000000000000000000000000000000000000000000000000000000000000000"+`"`))
		}
		return name, data
	})
	crRestoreFails(t, regexp.MustCompile(`vdso differs from the image's`), dst)
}
