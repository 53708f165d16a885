package image

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Format constants.
const (
	// Magic is the manifest's "magic" value.
	Magic = "crrun-image"
	// FormatVersion is the format version this package writes, and the
	// newest it reads.
	FormatVersion = 1
	// MinFormatVersion is the oldest format version this package reads.
	MinFormatVersion = 1
	// Arch is the only architecture of the format so far.
	Arch = "x86_64"
	// PageSize is the page size of the format: page data, extents and their
	// file offsets are multiples of it.
	PageSize = 4096
)

// File names inside an image directory.
const (
	ManifestFile = "MANIFEST.json" // the commit marker, written last
	MetaFile     = "image.json"    // Meta
	PagemapFile  = "pagemap.json"  // the index of page extents
)

// Size limits on what a reader loads into memory. A file over its limit is
// reported as ErrImageCorrupt; the writer refuses to produce one.
const (
	MaxManifestSize = 16 << 20  // MANIFEST.json
	MaxMetaSize     = 16 << 20  // image.json
	MaxProcessSize  = 256 << 20 // each proc-<pid>.json
	MaxPagemapSize  = 256 << 20 // pagemap.json
	MaxNameLen      = 200       // a file name in the manifest
	MaxFiles        = 1 << 20   // entries in the manifest
)

// KnownFeatures are the required-feature names this package understands. An
// image that requires any other feature is refused with ErrImageVersion.
// Features are how a format change that older readers must not ignore is
// made without a version bump (docs/image-format.md, "Versioning").
var KnownFeatures = []string{"process-tree", "clocks", "file-locks", "fd-owner", "epoll-tfd", "unix-unlinked", "main-exited", "vmflags", "no-vdso", "deleted-files", "memfd-state", "cow", "proc-attrs", "ipc-private", "net-private", "inet-sockets", "tcp-repair", "tcp-accept-queue", "tcp-half-closed", "tcp-held", "unix-queues", FeatureCompressedPages, "tmpfs-shared", "unix-peercred", "tty-foreground", FeatureIncremental, "ioprio", "sem-undo", "terminal"}

// Manifest is MANIFEST.json, the commit marker. It is written last, after
// every other file is complete and synced; an image directory without it is
// incomplete. It lists every other file with its size and checksum.
type Manifest struct {
	Magic  string `json:"magic"`  // always Magic
	Format int    `json:"format"` // format version of every file in the image
	// Features are required features (see KnownFeatures).
	Features     []string  `json:"features,omitempty"`
	Arch         string    `json:"arch"`
	PageSize     int       `json:"page_size"`
	Created      time.Time `json:"created"`
	Reason       string    `json:"reason"`
	Trigger      Trigger   `json:"trigger,omitempty"`
	CrrunVersion string    `json:"crrun_version"`
	// Files lists every file of the image except the manifest, sorted by name.
	Files []FileEntry `json:"files"`
	// Parents lists the page files of other generations of the same store
	// that extents of this image refer to (PageExtent.Gen), with the size
	// and CRC-32C their own manifest gave them (feature "incremental").
	Parents []ParentFile `json:"parents,omitempty"`
	// ManifestCRC32C is the CRC-32C of this file's bytes with the 8 hex
	// digits of this field's value replaced by "00000000". It must stay the
	// last member, written exactly as `"manifest_crc32c": "xxxxxxxx"`.
	ManifestCRC32C CRC32C `json:"manifest_crc32c"`
}

// FileEntry is one file in the manifest.
type FileEntry struct {
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	CRC32C CRC32C `json:"crc32c"`
}

// manifestEnvelope is the part of the manifest that never changes between
// format versions: it is decoded first, so that a newer image is reported as
// ErrImageVersion rather than as corrupt.
type manifestEnvelope struct {
	Magic  string `json:"magic"`
	Format int    `json:"format"`
}

var selfCRCKey = []byte(`"manifest_crc32c": "`)

// encodeManifest returns the bytes of MANIFEST.json, self-checksum included.
func encodeManifest(m *Manifest) ([]byte, error) {
	m.ManifestCRC32C = 0
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encoding %s: %w", ManifestFile, err)
	}
	b = append(b, '\n')
	if bytes.Count(b, selfCRCKey) != 1 {
		return nil, fmt.Errorf("encoding %s: the manifest_crc32c member is not unique", ManifestFile)
	}
	at := bytes.Index(b, selfCRCKey) + len(selfCRCKey)
	c := crc32c(b)
	copy(b[at:], formatCRC(c))
	m.ManifestCRC32C = CRC32C(c)
	return b, nil
}

// parseManifest decodes and checks MANIFEST.json. Errors are *Error naming
// the manifest (dir is only used in messages).
func parseManifest(dir string, b []byte) (*Manifest, error) {
	corrupt := func(format string, args ...any) error {
		return newError(ErrImageCorrupt, dir, ManifestFile, fmt.Sprintf(format, args...), nil)
	}
	if len(b) > MaxManifestSize {
		return nil, corrupt("%d bytes exceeds the limit of %d", len(b), MaxManifestSize)
	}
	// 1. The self-checksum, over the raw bytes, before trusting anything.
	switch n := bytes.Count(b, selfCRCKey); {
	case n == 0:
		return nil, corrupt("no manifest_crc32c member (truncated, or not a crrun manifest; %d bytes)", len(b))
	case n > 1:
		return nil, corrupt("%d manifest_crc32c members, want one", n)
	}
	at := bytes.Index(b, selfCRCKey) + len(selfCRCKey)
	if at+9 > len(b) || b[at+8] != '"' {
		return nil, corrupt("manifest_crc32c value is not 8 hex digits (truncated?)")
	}
	want, ok := parseCRC(string(b[at : at+8]))
	if !ok {
		return nil, corrupt("manifest_crc32c value %q is not 8 hex digits", b[at:at+8])
	}
	got := crc32cUpdate(0, b[:at])
	got = crc32cUpdate(got, []byte("00000000"))
	got = crc32cUpdate(got, b[at+8:])
	if got != want {
		return nil, corrupt("checksum mismatch: manifest_crc32c says %s, contents hash to %s", formatCRC(want), formatCRC(got))
	}

	// 2. The envelope: magic and version.
	var env manifestEnvelope
	if err := json.Unmarshal(b, &env); err != nil {
		return nil, corrupt("invalid JSON: %v", err)
	}
	if env.Magic != Magic {
		return nil, corrupt("bad magic %q, want %q (not a crrun image)", env.Magic, Magic)
	}
	if env.Format < MinFormatVersion || env.Format > FormatVersion {
		return nil, newError(ErrImageVersion, dir, ManifestFile,
			fmt.Sprintf("unknown format version %d (this crrun reads versions %d to %d)", env.Format, MinFormatVersion, FormatVersion), nil)
	}

	// 3. The whole manifest.
	m := new(Manifest)
	if err := json.Unmarshal(b, m); err != nil {
		return nil, corrupt("invalid JSON: %v", err)
	}
	if uint32(m.ManifestCRC32C) != want {
		return nil, corrupt("manifest_crc32c decodes as %s but the raw member says %s", m.ManifestCRC32C, formatCRC(want))
	}
	for _, f := range m.Features {
		if !slices.Contains(KnownFeatures, f) {
			return nil, newError(ErrImageVersion, dir, ManifestFile,
				fmt.Sprintf("the image requires feature %q, which this crrun does not know", f), nil)
		}
	}
	if m.Arch != Arch {
		return nil, newError(ErrImageVersion, dir, ManifestFile,
			fmt.Sprintf("architecture %q, this crrun restores %s", m.Arch, Arch), nil)
	}
	if m.PageSize != PageSize {
		return nil, newError(ErrImageVersion, dir, ManifestFile,
			fmt.Sprintf("page size %d, this crrun uses %d", m.PageSize, PageSize), nil)
	}
	if len(m.Files) > MaxFiles {
		return nil, corrupt("%d files listed, more than the limit of %d", len(m.Files), MaxFiles)
	}
	seen := make(map[string]bool, len(m.Files))
	for i, f := range m.Files {
		if err := checkName(f.Name); err != nil {
			return nil, corrupt("files[%d]: %v", i, err)
		}
		if f.Name == ManifestFile {
			return nil, corrupt("files[%d]: the manifest lists itself", i)
		}
		if seen[f.Name] {
			return nil, corrupt("files[%d]: %s listed twice", i, f.Name)
		}
		seen[f.Name] = true
		if f.Size < 0 {
			return nil, corrupt("files[%d]: %s has negative size %d", i, f.Name, f.Size)
		}
		if limit := metadataLimit(f.Name); limit > 0 && f.Size > limit {
			return nil, corrupt("files[%d]: %s has %d bytes, over the limit of %d for this file", i, f.Name, f.Size, limit)
		}
	}
	if err := checkParents(m); err != nil {
		return nil, corrupt("%v", err)
	}
	for _, need := range []string{MetaFile, PagemapFile} {
		if !seen[need] {
			return nil, corrupt("%s is not listed", need)
		}
	}
	return m, nil
}

// checkName accepts the file names an image may contain: a single path
// element of letters, digits, '.', '_' and '-', not starting with '.'. This
// keeps a hostile manifest from naming anything outside the image.
func checkName(name string) error {
	if name == "" || len(name) > MaxNameLen {
		return fmt.Errorf("file name %q is empty or longer than %d bytes", name, MaxNameLen)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		ok := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-' || c == '.' && i > 0
		if !ok {
			return fmt.Errorf("file name %q has a character other than [A-Za-z0-9._-] or starts with '.'", name)
		}
	}
	return nil
}

// Names of per-process and data files.

func procFileName(pid int) string { return "proc-" + strconv.Itoa(pid) + ".json" }
func pageFileName(pid int) string { return "pages-" + strconv.Itoa(pid) + ".bin" }

// blobFilePrefix keeps blob names apart from every other file.
const blobFilePrefix = "blob-"

func blobFileName(name string) string { return blobFilePrefix + name }

// procFilePID returns the pid of a "proc-<pid>.json" name.
func procFilePID(name string) (int, bool) {
	s, ok := strings.CutPrefix(name, "proc-")
	if !ok {
		return 0, false
	}
	s, ok = strings.CutSuffix(s, ".json")
	if !ok {
		return 0, false
	}
	pid, err := strconv.Atoi(s)
	if err != nil || pid <= 0 || strconv.Itoa(pid) != s {
		return 0, false
	}
	return pid, true
}

// metadataLimit returns the size limit of a metadata file (read into memory
// and verified at Open), or 0 for a data file (pages, blobs, files a newer
// format added: checked by Verify, never loaded whole).
func metadataLimit(name string) int64 {
	switch name {
	case ManifestFile:
		return MaxManifestSize
	case MetaFile:
		return MaxMetaSize
	case PagemapFile:
		return MaxPagemapSize
	}
	if _, ok := procFilePID(name); ok {
		return MaxProcessSize
	}
	return 0
}
