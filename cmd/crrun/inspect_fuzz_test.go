package main

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/crrun/crrun/image"
	"github.com/crrun/crrun/internal/imagefuzz"
)

// FuzzInspect prints structure-aware mutations of a real small image (see
// crrun/internal/imagefuzz) the way `crrun inspect` does, in both forms:
// whatever an image that opens says, inspect prints it without a panic.
//
//	go test -run '^$' -fuzz FuzzInspect -fuzztime 60s ./cmd/crrun/
func FuzzInspect(f *testing.F) {
	imagefuzz.Fuzz(f, "../../image/testdata/seed-image", [][]byte{
		{3, 0, 77, 0, 0}, {3, 0, 90, 2, 5}, {4, 1, 10, 1, 3}, {5, 0, 33, 0, 9}, {3, 2, 0, 9, 1},
	}, func(t *testing.T, r *image.Reader, ops []byte) {
		var out bytes.Buffer
		printImage(&out, r)
		if len(ops) == 0 && !bytes.Contains(out.Bytes(), []byte("process 103")) {
			t.Fatalf("the seed image prints:\n%s", out.String())
		}
		if err := json.NewEncoder(&out).Encode(inspectJSON(r)); err != nil {
			t.Fatalf("--json: %v", err)
		}
	})
}
