package tests

import (
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/crrun/crrun/image"
)

// TestCRCompress: the counter victim (heap, anonymous, shared and file
// memory, zero pages and patterns) checkpointed with --compress=zstd (the
// default, named) and with --compress=none restores and PASSes; the first
// image holds compressed and zero extents and requires the feature, the
// second only raw ones and does not.
func TestCRCompress(t *testing.T) {
	requireCR(t)
	b := compileCR(t, "counter", false)
	check := func(compressed bool) func(t *testing.T, img string) {
		return func(t *testing.T, img string) {
			t.Helper()
			r, err := image.Open(img)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			count := map[string]int{}
			var mem, file uint64
			for _, p := range r.Processes() {
				for _, e := range r.Extents(p.PID) {
					count[e.Encoding]++
					mem += e.Length
					file += e.FileSpan()
				}
			}
			t.Logf("extents by encoding %v: %d bytes of memory in %d bytes of page files", count, mem, file)
			has := slices.Contains(r.Manifest().Features, image.FeatureCompressedPages)
			switch {
			case compressed && (!has || count[image.EncodingZstdShuffle] == 0):
				t.Errorf("--compress=zstd: features %v, extents %v: want compressed extents and the feature", r.Manifest().Features, count)
			case !compressed && (has || len(count) != 1 || count[image.EncodingRaw] == 0):
				t.Errorf("--compress=none: features %v, extents %v: want raw extents only and no feature", r.Manifest().Features, count)
			}
		}
	}
	for _, c := range []struct {
		mode string
		exit bool
	}{{"zstd", true}, {"none", false}} {
		t.Run(c.mode, func(t *testing.T) {
			t.Parallel()
			crRoundTrip(t, crVictim{name: "counter", argv: []string{b, strconv.Itoa(crCounterIters), "32", t.TempDir()},
				lo: 200 * time.Millisecond, hi: crCounterHi, exitMode: c.exit,
				ckptArgs: []string{"--compress=" + c.mode}, check: check(c.mode == "zstd")})
		})
	}
}
