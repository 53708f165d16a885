package image

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// Small value types whose JSON form is chosen for people reading the
// metadata: addresses and masks in hex, modes in octal, protections as
// "r-x", devices as "major:minor", checksums as 8 hex digits.

// Hex is a 64-bit value (an address, a register, a mask) written in JSON as
// a "0x…" string. A plain JSON number is accepted too.
type Hex uint64

// String returns the value as "0x…".
func (h Hex) String() string { return "0x" + strconv.FormatUint(uint64(h), 16) }

// MarshalJSON implements json.Marshaler.
func (h Hex) MarshalJSON() ([]byte, error) { return []byte(`"` + h.String() + `"`), nil }

// UnmarshalJSON implements json.Unmarshaler.
func (h *Hex) UnmarshalJSON(b []byte) error {
	s, quoted, err := jsonScalar(b)
	if err != nil || s == "null" && !quoted {
		return err
	}
	if quoted {
		if !strings.HasPrefix(s, "0x") {
			return fmt.Errorf("hex value %q does not start with 0x", s)
		}
		v, err := strconv.ParseUint(s[2:], 16, 64)
		if err != nil {
			return fmt.Errorf("bad hex value %q", s)
		}
		*h = Hex(v)
		return nil
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return fmt.Errorf("bad number %s for a hex value", s)
	}
	*h = Hex(v)
	return nil
}

// Octal is a mode or flag word written in JSON as an octal string ("0644",
// "02100002" — the form of /proc/PID/fdinfo "flags:"). A plain JSON number
// is accepted too.
type Octal uint32

// String returns the value as "0…".
func (o Octal) String() string {
	if o == 0 {
		return "0"
	}
	return "0" + strconv.FormatUint(uint64(o), 8)
}

// MarshalJSON implements json.Marshaler.
func (o Octal) MarshalJSON() ([]byte, error) { return []byte(`"` + o.String() + `"`), nil }

// UnmarshalJSON implements json.Unmarshaler.
func (o *Octal) UnmarshalJSON(b []byte) error {
	s, quoted, err := jsonScalar(b)
	if err != nil || s == "null" && !quoted {
		return err
	}
	base := 10
	if quoted {
		if !strings.HasPrefix(s, "0") {
			return fmt.Errorf("octal value %q does not start with 0", s)
		}
		base = 8
	}
	v, err := strconv.ParseUint(s, base, 32)
	if err != nil {
		return fmt.Errorf("bad octal value %q", s)
	}
	*o = Octal(v)
	return nil
}

// CRC32C is a CRC-32C checksum, written in JSON as 8 lower-case hex digits.
type CRC32C uint32

// String returns the checksum as 8 hex digits.
func (c CRC32C) String() string { return formatCRC(uint32(c)) }

// MarshalJSON implements json.Marshaler.
func (c CRC32C) MarshalJSON() ([]byte, error) { return []byte(`"` + c.String() + `"`), nil }

// UnmarshalJSON implements json.Unmarshaler.
func (c *CRC32C) UnmarshalJSON(b []byte) error {
	s, quoted, err := jsonScalar(b)
	if err != nil || s == "null" && !quoted {
		return err
	}
	v, ok := parseCRC(s)
	if !quoted || !ok {
		return fmt.Errorf("checksum %s is not a string of 8 lower-case hex digits", b)
	}
	*c = CRC32C(v)
	return nil
}

func parseCRC(s string) (uint32, bool) {
	if len(s) != 8 {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if !strings.ContainsRune("0123456789abcdef", rune(s[i])) {
			return 0, false
		}
	}
	v, err := strconv.ParseUint(s, 16, 32)
	return uint32(v), err == nil
}

// Prot is a memory protection (PROT_READ=1, PROT_WRITE=2, PROT_EXEC=4),
// written in JSON as in /proc/PID/maps without the sharing letter: "r-x".
type Prot uint32

// Protection bits.
const (
	ProtRead  Prot = 1
	ProtWrite Prot = 2
	ProtExec  Prot = 4
)

// String returns "rwx" with '-' for missing bits.
func (p Prot) String() string {
	b := []byte("---")
	if p&ProtRead != 0 {
		b[0] = 'r'
	}
	if p&ProtWrite != 0 {
		b[1] = 'w'
	}
	if p&ProtExec != 0 {
		b[2] = 'x'
	}
	return string(b)
}

// MarshalJSON implements json.Marshaler.
func (p Prot) MarshalJSON() ([]byte, error) {
	if p&^(ProtRead|ProtWrite|ProtExec) != 0 {
		return nil, fmt.Errorf("protection %#x has bits other than PROT_READ|PROT_WRITE|PROT_EXEC", uint32(p))
	}
	return []byte(`"` + p.String() + `"`), nil
}

// UnmarshalJSON implements json.Unmarshaler.
func (p *Prot) UnmarshalJSON(b []byte) error {
	s, quoted, err := jsonScalar(b)
	if err != nil || s == "null" && !quoted {
		return err
	}
	if !quoted || len(s) != 3 {
		return fmt.Errorf("protection %s is not of the form \"rwx\"", b)
	}
	var v Prot
	for i, want := range "rwx" {
		switch rune(s[i]) {
		case want:
			v |= 1 << i
		case '-':
		default:
			return fmt.Errorf("protection %q is not of the form \"rwx\"", s)
		}
	}
	*p = v
	return nil
}

// Dev is a device number (dev_t, as in stat's st_dev), written in JSON as
// "major:minor" in decimal, the form of /proc/PID/mountinfo.
type Dev uint64

// MakeDev builds a Dev from its major and minor numbers (glibc's encoding).
func MakeDev(major, minor uint32) Dev {
	d := uint64(major&0x00000fff) << 8
	d |= uint64(major&0xfffff000) << 32
	d |= uint64(minor&0x000000ff) << 0
	d |= uint64(minor&0xffffff00) << 12
	return Dev(d)
}

// Major returns the major device number.
func (d Dev) Major() uint32 {
	return uint32((d&0x00000000000fff00)>>8) | uint32((d&0xfffff00000000000)>>32)
}

// Minor returns the minor device number.
func (d Dev) Minor() uint32 {
	return uint32((d&0x00000000000000ff)>>0) | uint32((d&0x00000ffffff00000)>>12)
}

// String returns "major:minor".
func (d Dev) String() string { return fmt.Sprintf("%d:%d", d.Major(), d.Minor()) }

// MarshalJSON implements json.Marshaler.
func (d Dev) MarshalJSON() ([]byte, error) { return []byte(`"` + d.String() + `"`), nil }

// UnmarshalJSON implements json.Unmarshaler.
func (d *Dev) UnmarshalJSON(b []byte) error {
	s, quoted, err := jsonScalar(b)
	if err != nil || s == "null" && !quoted {
		return err
	}
	maj, min, ok := strings.Cut(s, ":")
	if !quoted || !ok {
		return fmt.Errorf("device %s is not of the form \"major:minor\"", b)
	}
	ma, err1 := strconv.ParseUint(maj, 10, 32)
	mi, err2 := strconv.ParseUint(min, 10, 32)
	if err1 != nil || err2 != nil {
		return fmt.Errorf("device %q is not of the form \"major:minor\"", s)
	}
	*d = MakeDev(uint32(ma), uint32(mi))
	return nil
}

// jsonScalar returns a JSON string's value (quoted=true) or the literal text
// of a number or null.
func jsonScalar(b []byte) (s string, quoted bool, err error) {
	if n := len(b); n >= 2 && b[0] == '"' && b[n-1] == '"' && plainJSONString(b[1:n-1]) {
		// The common case (hex values, device numbers): no escape to
		// decode. The decoder has validated the whole document already;
		// a full json.Unmarshal per value cost 14 % of opening an image
		// of 1,000 threads.
		return string(b[1 : n-1]), true, nil
	}
	if len(b) > 0 && b[0] == '"' {
		if err := json.Unmarshal(b, &s); err != nil {
			return "", false, err
		}
		return s, true, nil
	}
	return string(b), false, nil
}

// plainJSONString reports whether the inside of a JSON string literal is
// printable ASCII without a backslash or a quote: its value is its text.
func plainJSONString(b []byte) bool {
	for _, c := range b {
		if c < 0x20 || c >= 0x7f || c == '\\' || c == '"' {
			return false
		}
	}
	return true
}
