package checkpoint

import "testing"

func TestDense(t *testing.T) {
	var sparse []pageRun
	for a := uint64(0x7f0000000000); a < 0x7f0000000000+4<<30; a += 256 * 4096 {
		sparse = append(sparse, pageRun{start: a, end: a + 4096})
	}
	if dense(sparse) {
		t.Error("16 MiB touched one page in 256 of a 4 GiB map: dense")
	}
	if !dense([]pageRun{{start: 0x7f0000000000, end: 0x7f0000000000 + 16<<20}}) {
		t.Error("16 MiB in one run: not dense")
	}
}
