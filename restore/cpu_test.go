package restore

import (
	"strings"
	"testing"

	"github.com/crrun/crrun/image"
)

func TestCheckCPU(t *testing.T) {
	saved := &image.CPU{Model: "Big CPU", Flags: []string{"avx2", "avx512bw", "avx512f", "constant_tsc", "fsrm", "hypervisor", "sse2"}}
	for _, tc := range []struct {
		name  string
		here  *image.CPU
		saved *image.CPU
		want  string // "" = accepted
	}{
		{"same", saved, saved, ""},
		{"more here", &image.CPU{Flags: append([]string{"amx_tile", "avx_vnni"}, saved.Flags...)}, saved, ""},
		{"no instruction missing", &image.CPU{Flags: []string{"avx2", "avx512bw", "avx512f", "sse2"}}, saved, ""},
		{"older image", &image.CPU{Flags: []string{"sse2"}}, nil, ""},
		{"avx-512 missing", &image.CPU{Model: "Small CPU", Flags: []string{"avx2", "constant_tsc", "sse2"}}, saved,
			"this machine's CPU (Small CPU) lacks avx512bw, avx512f, which the checkpoint's (Big CPU) had"},
		{"unreadable here", nil, saved, "cannot read this machine's CPU features"},
	} {
		err := checkCPU(tc.saved, tc.here)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: refused: %v", tc.name, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: %v, want an error with %q", tc.name, err, tc.want)
		}
	}
	if c := image.ThisCPU(); c == nil || len(c.Flags) == 0 || checkCPU(c, c) != nil {
		t.Errorf("this machine's CPU %+v", c)
	}
}

func TestCPUList(t *testing.T) {
	for _, tc := range []struct {
		mask []image.Hex
		want string
	}{
		{[]image.Hex{0x1}, "0"}, {[]image.Hex{0x3}, "0-1"}, {[]image.Hex{0x2d}, "0,2-3,5"},
		{[]image.Hex{1 << 63, 1}, "63-64"}, {[]image.Hex{0xf0, 0x0}, "4-7"}, {[]image.Hex{0}, ""},
	} {
		if got := image.CPUList(tc.mask); got != tc.want {
			t.Errorf("CPUList(%x) = %q, want %q", tc.mask, got, tc.want)
		}
	}
}
