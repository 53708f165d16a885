package procfs

import (
	"bytes"
	"strconv"
	"strings"
)

// Mount is one line of /proc/PID/mountinfo (the fields crrun uses).
type Mount struct {
	ID         int
	Dev        Dev    // the filesystem's st_dev
	Root       string // the directory of the filesystem mounted here ("/" for the whole)
	MountPoint string // as the process sees it
	FSType     string
}

// MountInfo parses /proc/PID/mountinfo.
func (f FS) MountInfo(pid int) ([]Mount, error) {
	path := f.pidPath(pid, "mountinfo")
	return withFile(path, func(data []byte) ([]Mount, error) {
		var out []Mount
		for n, line := range bytes.Split(data, []byte("\n")) {
			if len(line) == 0 {
				continue
			}
			fields := strings.Fields(string(line))
			sep := -1
			for i, fl := range fields {
				if fl == "-" {
					sep = i
					break
				}
			}
			if len(fields) < 6 || sep < 6 || sep+1 >= len(fields) {
				return nil, parseErr(path, n+1, "malformed line %q", line)
			}
			id, err := strconv.Atoi(fields[0])
			if err != nil {
				return nil, parseErr(path, n+1, "mount id %q", fields[0])
			}
			maj, min, ok := strings.Cut(fields[2], ":")
			ma, err1 := strconv.ParseUint(maj, 10, 32)
			mi, err2 := strconv.ParseUint(min, 10, 32)
			if !ok || err1 != nil || err2 != nil {
				return nil, parseErr(path, n+1, "device %q", fields[2])
			}
			out = append(out, Mount{ID: id, Dev: Dev{Major: uint32(ma), Minor: uint32(mi)},
				Root: unescapeOctal(fields[3]), MountPoint: unescapeOctal(fields[4]), FSType: fields[sep+1]})
		}
		return out, nil
	})
}

// MountInfo parses /proc/PID/mountinfo with the default FS.
func MountInfo(pid int) ([]Mount, error) { return FS{}.MountInfo(pid) }

// unescapeOctal undoes the kernel's \ooo escapes of blanks and backslashes.
func unescapeOctal(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
