// Package imagefuzz mutates checkpoint images for the fuzz targets of the
// image reader (image/fuzz_reader_test.go) and of crrun inspect
// (cmd/crrun/inspect_fuzz_test.go). It is structure-aware: it starts from a
// real small image's JSON files (image/testdata/seed-image: a process tree
// with a zombie, a pipe, a socketpair, a memfd, an eventfd, a timerfd and a
// file), decodes them, changes fields — numbers to edge values, paths and
// names to traversals and other files' names, lengths to huge ones,
// elements deleted or duplicated — re-encodes them and reseals the image
// (image.Reseal), so that the mutations reach the decoders and validators
// behind the checksums instead of dying at the first CRC.
package imagefuzz

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/crrun/crrun/image"
)

// Seed is an image held in memory: file name → content.
type Seed map[string][]byte

// Load reads the seed image in dir: its JSON files and blobs as they are,
// and a zero-filled page file of the size the manifest lists for each page
// file not stored (page data is not what the fuzzers are after, and zeroes
// keep the testdata small; Reseal fixes the extents' checksums).
func Load(dir string) (Seed, error) {
	s := Seed{}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		s[e.Name()] = b
	}
	var m image.Manifest
	if err := json.Unmarshal(s[image.ManifestFile], &m); err != nil {
		return nil, fmt.Errorf("seed manifest: %w", err)
	}
	for _, f := range m.Files {
		if _, ok := s[f.Name]; !ok {
			s[f.Name] = make([]byte, f.Size)
		}
	}
	return s, nil
}

// JSONFiles returns the names of the seed's JSON files, sorted.
func (s Seed) JSONFiles() []string {
	var names []string
	for n := range s {
		if strings.HasSuffix(n, ".json") {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return names
}

// Write writes the seed, mutated by ops (see Mutate), to dir and reseals
// it. The manifest is mutated too, before the reseal: a mutation of a file
// name or size then reaches the reader.
func (s Seed) Write(dir string, ops []byte) error {
	files := s.Mutate(ops)
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			return err
		}
	}
	if err := image.Reseal(dir); err != nil {
		// A manifest mutated out of JSON: written as it is, for the reader.
		return os.WriteFile(filepath.Join(dir, image.ManifestFile), files[image.ManifestFile], 0o600)
	}
	return nil
}

// An op is opLen bytes: which JSON file, which node of it (two bytes, an
// index into its nodes in a fixed walk order, modulo their number), what to
// do, and an argument (which dictionary value).
const opLen = 5

// Mutate returns a copy of the seed with the ops applied to its JSON files.
func (s Seed) Mutate(ops []byte) map[string][]byte {
	out := make(map[string][]byte, len(s))
	for n, b := range s {
		out[n] = b
	}
	names := s.JSONFiles()
	if len(names) == 0 {
		return out
	}
	docs := map[string]any{}
	for ; len(ops) >= opLen; ops = ops[opLen:] {
		name := names[int(ops[0])%len(names)]
		doc, ok := docs[name]
		if !ok {
			d := json.NewDecoder(bytes.NewReader(out[name]))
			d.UseNumber()
			if d.Decode(&doc) != nil {
				continue
			}
		}
		docs[name] = mutate(doc, int(ops[1])<<8|int(ops[2]), ops[3], ops[4])
	}
	for name, doc := range docs {
		if b, err := json.MarshalIndent(doc, "", "  "); err == nil {
			out[name] = b
		}
	}
	return out
}

// node is a place in a decoded JSON document: a member of an object or an
// element of an array.
type node struct {
	obj map[string]any
	key string
	arr []any
	idx int
}

func (n node) get() any {
	if n.obj != nil {
		return n.obj[n.key]
	}
	return n.arr[n.idx]
}

func (n node) set(v any) {
	if n.obj != nil {
		n.obj[n.key] = v
	} else {
		n.arr[n.idx] = v
	}
}

// walk lists the nodes of doc, parents before children, members by name.
func walk(v any, out []node) []node {
	switch x := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			out = append(out, node{obj: x, key: k})
			out = walk(x[k], out)
		}
	case []any:
		for i := range x {
			out = append(out, node{arr: x, idx: i})
			out = walk(x[i], out)
		}
	}
	return out
}

// Dictionaries of values that break assumptions.
var (
	numbers = []string{"0", "1", "-1", "2", "3", "-2147483648", "2147483647", "2147483648", "4095", "4096", "65536",
		"4294967295", "4294967296", "9007199254740993", "9223372036854775807", "-9223372036854775808",
		"18446744073709551615", "18446744073709551616", "1e300", "0.5", "100", "101", "103", "108", "109", "1024", "1048576"}
	strs = []string{"", "..", "../../etc/passwd", "/etc/shadow", "blob-..", "blob-pipe-126787.bin", "pages-103.bin",
		"proc-103.json", "MANIFEST.json", "image.json", "a/b", "\x00", "0x0", "0xfffffffffffff000", "0xffffffffffffffff",
		"0x7ffffffff000", "0x1000", "rwx", "---", "anon", "file", "vdso", "pipe", "unix", "pty", "stdio",
		"deadbeef", "zzzzzzzz", "-1", "1e9", "2026-13-40T99:99:99Z", strings.Repeat("A", 4097)}
)

// mutate applies one change to the node at index at (modulo the number of
// nodes) and returns the document (which changes when it is the root).
func mutate(doc any, at int, what, arg byte) any {
	nodes := walk(doc, nil)
	if len(nodes) == 0 {
		return doc
	}
	n := nodes[at%len(nodes)]
	pick := func(list []string) string { return list[int(arg)%len(list)] }
	switch what % 10 {
	case 0, 1: // a number
		n.set(json.Number(pick(numbers)))
	case 2, 3: // a string
		n.set(pick(strs))
	case 4: // a number nearby: off by one, a page, a sign
		if num, ok := n.get().(json.Number); ok {
			if i, err := num.Int64(); err == nil {
				deltas := []int64{1, -1, 4096, -4096, 1 << 32, -i, i}
				n.set(json.Number(fmt.Sprint(i + deltas[int(arg)%len(deltas)])))
			}
		} else if s, ok := n.get().(string); ok && len(s) > 0 {
			// a string cut or grown
			if arg%2 == 0 {
				n.set(s[:int(arg)%len(s)])
			} else if len(s) < 1<<14 {
				n.set(s + s)
			}
		}
	case 5: // gone
		if n.obj != nil {
			delete(n.obj, n.key)
		} else {
			n.set(nil)
		}
	case 6: // null, a boolean, an empty array or object
		n.set([]any{nil, true, false, []any{}, map[string]any{}}[int(arg)%5])
	case 7: // an array element duplicated (a pid, fd or extent twice)
		if a, ok := n.get().([]any); ok && len(a) > 0 {
			n.set(append(append([]any{}, a...), a[int(arg)%len(a)]))
		}
	case 8: // an array emptied or cut
		if a, ok := n.get().([]any); ok {
			n.set(a[:int(arg)%(len(a)+1)])
		}
	case 9: // another node's value here (a field of one kind in another),
		// copied: it may be this node's own ancestor
		b, err := json.Marshal(nodes[(at+int(arg)+1)%len(nodes)].get())
		if err != nil || len(b) > 64<<10 { // no doubling of the whole file 64 times
			break
		}
		d := json.NewDecoder(bytes.NewReader(b))
		d.UseNumber()
		var c any
		if d.Decode(&c) == nil {
			n.set(c)
		}
	}
	return doc
}

// Edit returns a copy of the seed whose JSON file name is changed by edit,
// which gets the decoded document (numbers as json.Number).
func (s Seed) Edit(name string, edit func(doc map[string]any)) (Seed, error) {
	d := json.NewDecoder(bytes.NewReader(s[name]))
	d.UseNumber()
	var doc map[string]any
	if err := d.Decode(&doc); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	edit(doc)
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return nil, err
	}
	out := make(Seed, len(s))
	for n, v := range s {
		out[n] = v
	}
	out[name] = b
	return out, nil
}

// Fuzz runs a fuzz target over mutations of the seed image in seedDir: each
// input is a list of 5-byte edits (at most 64), written out as an image and
// opened; an image that does not open must say why (the unmutated seed must
// open), and one that opens is handed to use.
func Fuzz(f *testing.F, seedDir string, seeds [][]byte, use func(t *testing.T, r *image.Reader, ops []byte)) {
	seed, err := Load(seedDir)
	if err != nil {
		f.Fatal(err)
	}
	f.Add([]byte{})
	for _, ops := range seeds {
		f.Add(ops)
	}
	f.Fuzz(func(t *testing.T, ops []byte) {
		if len(ops) > 64*5 {
			ops = ops[:64*5]
		}
		dir := t.TempDir()
		if err := seed.Write(dir, ops); err != nil {
			t.Fatal(err)
		}
		r, err := image.Open(dir)
		if err != nil {
			if len(ops) == 0 {
				t.Fatalf("the seed image does not open: %v", err)
			}
			if err.Error() == "" {
				t.Fatal("an error without a message")
			}
			return
		}
		defer r.Close()
		use(t, r, ops)
	})
}
