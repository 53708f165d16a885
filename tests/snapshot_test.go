package tests

import (
	"testing"
	"time"
)

// A keep-running checkpoint reads the app's private memory from a
// copy-on-write snapshot after the thaw, while the app rewrites every page
// (checkpoint/snapshot.go); shared and MADV_WIPEONFORK memory is read in the
// pause. snapwrite checks every page against the pass it is in, so the
// restored app fails if any page of the image is not as it was at the freeze.
func TestCRSnapshotDrain(t *testing.T) {
	requireCR(t)
	b := compileCR(t, "snapwrite", false)
	crRoundTrip(t, crVictim{name: "snapwrite", argv: []string{b}, lo: 150 * time.Millisecond, hi: 700 * time.Millisecond})
}
