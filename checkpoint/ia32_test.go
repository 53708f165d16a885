package checkpoint

import (
	"os"
	"path/filepath"
	"testing"
)

// The gate knows a 32-bit executable by its ELF class (ia32 emulation is
// off on the test machines, so no 32-bit program can run there).
func TestExeIs32(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		name  string
		ident []byte
		want  bool
	}{
		{"elf32", []byte{0x7f, 'E', 'L', 'F', 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0}, true},
		{"elf64", []byte{0x7f, 'E', 'L', 'F', 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0}, false},
		{"script", []byte("#!/bin/sh\necho 1\n"), false},
		{"short", []byte{0x7f, 'E'}, false},
	} {
		p := filepath.Join(dir, c.name)
		if err := os.WriteFile(p, c.ident, 0o755); err != nil {
			t.Fatal(err)
		}
		if got := exeIs32(p); got != c.want {
			t.Errorf("%s: exeIs32 = %v, want %v", c.name, got, c.want)
		}
	}
	if exeIs32("/proc/self/exe") {
		t.Error("the test binary itself is taken for a 32-bit one")
	}
}
