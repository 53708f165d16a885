package procfs

import "bytes"

// Byte-level number parsers. strconv works on strings, and converting each field
// of each line to a string would allocate on the hot path; these do not. They
// reject empty input, signs where none belong, and overflow.

func parseDec(b []byte) (uint64, bool) {
	if len(b) == 0 {
		return 0, false
	}
	var v uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		d := uint64(c - '0')
		if v > (1<<64-1-d)/10 {
			return 0, false
		}
		v = v*10 + d
	}
	return v, true
}

func parseInt(b []byte) (int64, bool) {
	neg := false
	if len(b) > 0 && (b[0] == '-' || b[0] == '+') {
		neg = b[0] == '-'
		b = b[1:]
	}
	u, ok := parseDec(b)
	if !ok {
		return 0, false
	}
	if neg {
		if u > 1<<63 {
			return 0, false
		}
		return -int64(u), true
	}
	if u > 1<<63-1 {
		return 0, false
	}
	return int64(u), true
}

func parseHex(b []byte) (uint64, bool) {
	if len(b) > 2 && b[0] == '0' && (b[1] == 'x' || b[1] == 'X') {
		b = b[2:]
	}
	if len(b) == 0 || len(b) > 16 {
		// More than 16 digits can only fit if they are leading zeros.
		for len(b) > 16 && b[0] == '0' {
			b = b[1:]
		}
		if len(b) == 0 || len(b) > 16 {
			return 0, false
		}
	}
	var v uint64
	for _, c := range b {
		var d byte
		switch {
		case c >= '0' && c <= '9':
			d = c - '0'
		case c >= 'a' && c <= 'f':
			d = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			d = c - 'A' + 10
		default:
			return 0, false
		}
		v = v<<4 | uint64(d)
	}
	return v, true
}

func parseOct(b []byte) (uint64, bool) {
	if len(b) == 0 {
		return 0, false
	}
	var v uint64
	for _, c := range b {
		if c < '0' || c > '7' {
			return 0, false
		}
		if v>>61 != 0 {
			return 0, false
		}
		v = v<<3 | uint64(c-'0')
	}
	return v, true
}

// cutLine splits off the first line (without its '\n').
func cutLine(b []byte) (line, rest []byte) {
	if i := bytes.IndexByte(b, '\n'); i >= 0 {
		return b[:i], b[i+1:]
	}
	return b, nil
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' }

// nextField returns the next run of non-blank bytes of b and what follows it.
func nextField(b []byte) (field, rest []byte) {
	i := 0
	for i < len(b) && isSpace(b[i]) {
		i++
	}
	j := i
	for j < len(b) && !isSpace(b[j]) {
		j++
	}
	return b[i:j], b[j:]
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && (isSpace(b[0]) || b[0] == '\n') {
		b = b[1:]
	}
	for len(b) > 0 && (isSpace(b[len(b)-1]) || b[len(b)-1] == '\n') {
		b = b[:len(b)-1]
	}
	return b
}

// cutKey splits a "Key:<blanks>value" line. ok is false when there is no colon.
func cutKey(line []byte) (key, value []byte, ok bool) {
	i := bytes.IndexByte(line, ':')
	if i < 0 {
		return nil, nil, false
	}
	return line[:i], trimSpace(line[i+1:]), true
}

// forEachKV calls fn for every "key:value" or "key: value" pair of a line made of
// such pairs separated by blanks, as in epoll's "tfd: 5 events: 19 data: 7 pos:0"
// and inotify's "inotify wd:1 ino:3c4a3 sdev:fe00000 mask:300". Tokens without a
// colon (the "inotify" prefix) are ignored.
func forEachKV(line []byte, fn func(key, value []byte)) {
	for {
		var tok []byte
		tok, line = nextField(line)
		if len(tok) == 0 {
			return
		}
		i := bytes.IndexByte(tok, ':')
		if i < 0 {
			continue
		}
		if i == len(tok)-1 {
			var v []byte
			v, line = nextField(line)
			fn(tok[:i], v)
			continue
		}
		fn(tok[:i], tok[i+1:])
	}
}

// splitNUL splits NUL-separated strings (cmdline, environ). A trailing NUL ends
// the last string rather than starting an empty one.
func splitNUL(b []byte) []string {
	if len(b) == 0 {
		return nil
	}
	if b[len(b)-1] == 0 {
		b = b[:len(b)-1]
	}
	n := bytes.Count(b, []byte{0}) + 1
	out := make([]string, 0, n)
	for {
		i := bytes.IndexByte(b, 0)
		if i < 0 {
			return append(out, string(b))
		}
		out = append(out, string(b[:i]))
		b = b[i+1:]
	}
}
