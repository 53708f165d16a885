// Package gendoc keeps a generated part of a Markdown page in step with the
// code it is generated from: tests call Check, and `go test -update`
// rewrites the part.
package gendoc

import (
	"os"
	"strings"
	"testing"
)

// Check compares the part of the page at path between the markers
// "<!-- BEGIN generated NAME -->" and "<!-- END generated NAME -->" with
// want; with update it rewrites it instead. how names the command that
// regenerates it, for the failure message.
func Check(t *testing.T, path, name, want string, update bool, how string) {
	t.Helper()
	begin, end := "<!-- BEGIN generated "+name+" -->\n", "<!-- END generated "+name+" -->"
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	i, j := strings.Index(s, begin), strings.Index(s, end)
	if i < 0 || j < i {
		t.Fatalf("%s lacks the markers %q … %q", path, strings.TrimSpace(begin), end)
	}
	if got := s[i+len(begin) : j]; got != want {
		if update {
			if err := os.WriteFile(path, []byte(s[:i+len(begin)]+want+s[j:]), 0o644); err != nil {
				t.Fatal(err)
			}
			return
		}
		t.Fatalf("%s is out of date: run %s", path, how)
	}
}
