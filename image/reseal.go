package image

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
)

// Reseal makes the checksums of the image in dir match its content again:
// each extent's CRC-32C in pagemap.json (when it decodes and the extent lies
// inside its page file), then the size and CRC-32C of every file the
// manifest lists, and the manifest's own checksum. The manifest must decode
// as JSON; nothing else of the image is checked.
//
// Checksums detect damage, not tampering: anyone who can write an image can
// reseal it (which is why restore asks whose an image is, see CheckOwner).
// Reseal is for tests and tools that edit an image on purpose, such as the
// structure-aware fuzzers, whose mutations must reach the decoders behind
// the checksums.
func Reseal(dir string) error {
	mb, err := os.ReadFile(filepath.Join(dir, ManifestFile))
	if err != nil {
		return fmt.Errorf("image: reseal: %w", err)
	}
	var m Manifest
	if err := json.Unmarshal(mb, &m); err != nil {
		return fmt.Errorf("image: reseal: %s: %w", ManifestFile, err)
	}
	if pb, err := os.ReadFile(filepath.Join(dir, PagemapFile)); err == nil {
		var pm pagemap
		if json.Unmarshal(pb, &pm) == nil {
			pages := map[string][]byte{}
			for i := range pm.Extents {
				e := &pm.Extents[i]
				if checkName(e.File) != nil {
					continue
				}
				b, ok := pages[e.File]
				if !ok {
					b, _ = os.ReadFile(filepath.Join(dir, e.File))
					pages[e.File] = b
				}
				switch e.Encoding {
				case EncodingZero:
				case EncodingZstd, EncodingZstdShuffle:
					// The frame's checksum, and the data's if it decodes.
					if e.Offset <= uint64(len(b)) && e.Stored <= uint64(len(b))-e.Offset {
						stored := b[e.Offset : e.Offset+e.Stored]
						e.CRC32C = CRC32C(crc32c(stored))
						if e.Length > 0 && e.Length <= MaxEncodedExtent && e.Length%8 == 0 {
							if _, dec, err := zstdCodecs(); err == nil {
								if out, err := dec.DecodeAll(stored, make([]byte, 0, e.Length)); err == nil && uint64(len(out)) == e.Length {
									if e.Encoding == EncodingZstdShuffle {
										plain := make([]byte, len(out))
										unshuffle8(plain, out)
										out = plain
									}
									e.DataCRC32C = CRC32C(crc32c(out))
								}
							}
						}
					}
				default:
					if e.Offset <= uint64(len(b)) && e.Length <= uint64(len(b))-e.Offset {
						e.CRC32C = CRC32C(crc32c(b[e.Offset : e.Offset+e.Length]))
					}
				}
			}
			if nb, err := encodePagemap(pm.Extents); err == nil {
				if err := os.WriteFile(filepath.Join(dir, PagemapFile), nb, 0o600); err != nil {
					return fmt.Errorf("image: reseal: %w", err)
				}
			}
		}
	}
	for i := range m.Files {
		f := &m.Files[i]
		if checkName(f.Name) != nil {
			continue // left for the reader to refuse
		}
		b, err := os.ReadFile(filepath.Join(dir, f.Name))
		if err != nil {
			continue // missing: left for the reader to refuse
		}
		f.Size, f.CRC32C = int64(len(b)), CRC32C(crc32c(b))
	}
	sort.SliceStable(m.Files, func(i, j int) bool { return m.Files[i].Name < m.Files[j].Name })
	nb, err := encodeManifest(&m)
	if err != nil {
		return fmt.Errorf("image: reseal: %w", err)
	}
	return os.WriteFile(filepath.Join(dir, ManifestFile), nb, 0o600)
}
