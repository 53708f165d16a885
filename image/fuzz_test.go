package image

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// Fuzz targets for everything a reader decodes from an untrusted image. The
// seeds run in every `go test`; explore with
//
//	go test -run '^$' -fuzz FuzzManifest ./image/
//	go test -run '^$' -fuzz FuzzMetadata ./image/

// sampleManifest returns the manifest bytes of a sample image.
func sampleManifest(f *testing.F) []byte {
	dir := filepath.Join(f.TempDir(), "img")
	w, err := Create(dir, nil)
	if err != nil {
		f.Fatal(err)
	}
	if err := w.AddPages(100, heapStart, make([]byte, PageSize)); err != nil {
		f.Fatal(err)
	}
	if err := w.WriteProcess(sampleProcess(100, 1)); err != nil {
		f.Fatal(err)
	}
	if err := w.WriteMeta(sampleMeta(100)); err != nil {
		f.Fatal(err)
	}
	if _, err := w.Commit(); err != nil {
		f.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, ManifestFile))
	if err != nil {
		f.Fatal(err)
	}
	return b
}

func FuzzManifest(f *testing.F) {
	good := sampleManifest(f)
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Add([]byte{})
	f.Add([]byte(`{"manifest_crc32c": "00000000"}`))
	var m Manifest
	json.Unmarshal(good, &m)
	for _, edit := range []func(*Manifest){
		func(m *Manifest) { m.Format = 2 },
		func(m *Manifest) { m.Files = append(m.Files, FileEntry{Name: "../x", Size: 1}) },
		func(m *Manifest) { m.Files = append(m.Files, m.Files[0]) },
		func(m *Manifest) { m.Files[0].Size = -1 },
		func(m *Manifest) { m.Files = nil },
		func(m *Manifest) { m.PageSize = 65536 },
	} {
		c := m
		c.Files = append([]FileEntry(nil), m.Files...)
		edit(&c)
		b, err := encodeManifest(&c)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := parseManifest("fuzz", data)
		if err != nil {
			var ie *Error
			if !errors.As(err, &ie) || ie.File != ManifestFile || !(errors.Is(err, ErrImageCorrupt) || errors.Is(err, ErrImageVersion)) {
				t.Fatalf("error %v is not an *Error naming %s with a sentinel", err, ManifestFile)
			}
			return
		}
		// Accepted: the invariants Open relies on hold, and the manifest
		// survives re-encoding.
		for _, fe := range m.Files {
			if checkName(fe.Name) != nil || fe.Size < 0 || fe.Name == ManifestFile {
				t.Fatalf("accepted bad entry %+v", fe)
			}
		}
		b1, err := encodeManifest(m)
		if err != nil {
			t.Fatalf("re-encoding an accepted manifest: %v", err)
		}
		m2, err := parseManifest("fuzz", b1)
		if err != nil {
			t.Fatalf("re-parsing a re-encoded manifest: %v", err)
		}
		b2, _ := encodeManifest(m2)
		if !bytes.Equal(b1, b2) {
			t.Fatalf("re-encoding is not stable:\n%s\n%s", b1, b2)
		}
	})
}

func FuzzMetadata(f *testing.F) {
	meta, _ := json.MarshalIndent(sampleMeta(100, 101), "", "  ")
	proc, _ := json.MarshalIndent(sampleProcess(100, 1), "", "  ")
	pm, _ := encodePagemap([]PageExtent{
		{PID: 100, Vaddr: heapStart, Length: 2 * PageSize, File: "pages-100.bin", Offset: 0},
		{PID: 100, Vaddr: stackEnd - PageSize, Length: PageSize, File: "pages-100.bin", Offset: 2 * PageSize},
	})
	for _, seed := range [][]byte{meta, proc, pm} {
		for kind := range byte(3) {
			f.Add(kind, seed)
		}
		f.Add(byte(0), seed[:len(seed)/3])
	}
	f.Add(byte(2), []byte(`{"extents":[{"pid":100,"vaddr":"0xffffffffffff000","length":18446744073709547520,"file":"pages-100.bin","offset":0}]}`))
	f.Add(byte(1), []byte(`{"pid":1,"threads":[{"tid":1}],"memory":[{"start":"0x1000","end":"0x0","prot":"rwx","kind":"anon"}]}`))

	procs := map[int]*Process{100: sampleProcess(100, 1)}
	dataFiles := map[string]int64{"pages-100.bin": 3 * PageSize, "blob-x": 10}
	f.Fuzz(func(t *testing.T, kind byte, data []byte) {
		switch kind % 3 {
		case 0:
			var m Meta
			if json.Unmarshal(data, &m) == nil && m.Validate() == nil {
				if _, err := json.Marshal(&m); err != nil {
					t.Fatalf("valid meta does not re-encode: %v", err)
				}
			}
		case 1:
			var p Process
			if json.Unmarshal(data, &p) != nil || p.Validate() != nil {
				return
			}
			b, err := json.Marshal(&p)
			if err != nil {
				t.Fatalf("valid process does not re-encode: %v", err)
			}
			var p2 Process
			if err := json.Unmarshal(b, &p2); err != nil || p2.Validate() != nil {
				t.Fatalf("re-encoded process does not decode and validate: %v", err)
			}
			for _, v := range p.Memory {
				if got := p.findVMA(uint64(v.Start)); got == nil || got.Start != v.Start {
					t.Fatalf("findVMA(%s) = %v", v.Start, got)
				}
			}
		case 2:
			var pm pagemap
			if json.Unmarshal(data, &pm) != nil {
				return
			}
			byPID, byFile, issue := checkExtents(pm.Extents, procs, dataFiles)
			if issue != nil {
				return
			}
			// Accepted: extents tile their files and sit inside mappings.
			for name, list := range byFile {
				var pos uint64
				for _, e := range list {
					if e.Offset != pos || e.Length == 0 {
						t.Fatalf("accepted extents that do not tile %s: %+v", name, list)
					}
					pos += e.Length
				}
				if pos != uint64(dataFiles[name]) {
					t.Fatalf("accepted extents covering %d of %d bytes", pos, dataFiles[name])
				}
			}
			for pid, list := range byPID {
				for _, e := range list {
					v := procs[pid].findVMA(uint64(e.Vaddr))
					if v == nil || e.End() > uint64(v.End) || e.End() < uint64(e.Vaddr) {
						t.Fatalf("accepted extent %+v outside the mappings", e)
					}
				}
			}
		}
	})
}
