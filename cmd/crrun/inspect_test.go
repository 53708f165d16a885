package main

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/crrun/crrun/image"
	"github.com/crrun/crrun/internal/imagefuzz"
)

// TestInspectHostile: images whose indexes point nowhere (out-of-range
// pids, fds and stdio numbers, extents past the end, blob names with "..",
// huge lengths) are either refused by the reader, naming the file, or
// printed by inspect without a panic.
func TestInspectHostile(t *testing.T) {
	seed, err := imagefuzz.Load("../../image/testdata/seed-image")
	if err != nil {
		t.Fatal(err)
	}
	fds := func(doc map[string]any) []any { return doc["fds"].([]any) }
	fd := func(doc map[string]any, i int) map[string]any { return fds(doc)[i].(map[string]any) }
	for _, c := range []struct {
		name, file string
		edit       func(map[string]any)
	}{
		{"stdio 7", "proc-103.json", func(d map[string]any) { fd(d, 0)["stdio"] = json.Number("7") }},
		{"stdio -1", "proc-103.json", func(d map[string]any) { fd(d, 0)["stdio"] = json.Number("-1") }},
		{"negative fd", "proc-103.json", func(d map[string]any) { fd(d, 3)["fd"] = json.Number("-5") }},
		{"huge fd", "proc-103.json", func(d map[string]any) { fd(d, 3)["fd"] = json.Number("2147483648") }},
		{"ofd huge", "proc-103.json", func(d map[string]any) { fd(d, 3)["ofd"] = json.Number("9223372036854775807") }},
		{"pipe blob ..", "proc-103.json", func(d map[string]any) {
			fd(d, 3)["pipe"].(map[string]any)["data"] = "../../../etc/passwd"
		}},
		{"blob blob-..", "proc-103.json", func(d map[string]any) { fd(d, 11)["blob"] = ".." }},
		{"pidfd of no process", "proc-103.json", func(d map[string]any) {
			fd(d, 8)["kind"] = "pidfd"
			fd(d, 8)["pidfd"] = map[string]any{"pid": json.Number("-99")}
		}},
		{"root not a process", "image.json", func(d map[string]any) { d["root"] = json.Number("4242") }},
		{"pid 0", "image.json", func(d map[string]any) { d["processes"] = []any{json.Number("0")} }},
		{"zombie with a status of all bits", "proc-109.json", func(d map[string]any) {
			d["zombie"] = map[string]any{"status": json.Number("4294967295")}
		}},
		{"mapping past user space", "proc-103.json", func(d map[string]any) {
			m := d["memory"].([]any)
			m[len(m)-1].(map[string]any)["end"] = "0xfffffffffffff000"
		}},
		{"no threads", "proc-103.json", func(d map[string]any) { d["threads"] = []any{} }},
		{"extent huge", "pagemap.json", func(d map[string]any) {
			d["extents"].([]any)[0].(map[string]any)["length"] = json.Number("18446744073709547520")
		}},
		{"extent of no process", "pagemap.json", func(d map[string]any) {
			d["extents"].([]any)[0].(map[string]any)["pid"] = json.Number("77")
		}},
		{"extent file ..", "pagemap.json", func(d map[string]any) {
			d["extents"].([]any)[0].(map[string]any)["file"] = "../pages-103.bin"
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, err := seed.Edit(c.file, c.edit)
			if err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			if err := s.Write(dir, nil); err != nil {
				t.Fatal(err)
			}
			r, err := image.Open(dir)
			if err != nil {
				t.Logf("refused: %v", err)
				return
			}
			defer r.Close()
			var out bytes.Buffer
			printImage(&out, r)
			if err := json.NewEncoder(&out).Encode(inspectJSON(r)); err != nil {
				t.Fatal(err)
			}
			t.Logf("printed %d bytes", out.Len())
		})
	}
}
