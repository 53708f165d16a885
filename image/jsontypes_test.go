package image

import (
	"encoding/json"
	"testing"
)

// The fast path of jsonScalar (a string without escapes is its own text)
// and the full decoding must agree: escaped, plain, numeric and bad values.
func TestJSONScalarPlainAndEscaped(t *testing.T) {
	for _, c := range []struct {
		in   string
		want Hex
		bad  bool
	}{
		{`"0x1f"`, 0x1f, false},
		{`"\u0030x1f"`, 0x1f, false}, // "0x1f" with an escape: decoded, not taken as text
		{`31`, 31, false},
		{`"0x"`, 0, true},
		{`"1f"`, 0, true},
		{`"0x1f\""`, 0, true},
	} {
		var h Hex
		err := json.Unmarshal([]byte(c.in), &h)
		if c.bad != (err != nil) || !c.bad && h != c.want {
			t.Errorf("%s: got %#x, %v; want %#x (error: %v)", c.in, uint64(h), err, uint64(c.want), c.bad)
		}
	}
	var d Dev
	if err := json.Unmarshal([]byte(`"254:\u0031"`), &d); err != nil || d != MakeDev(254, 1) {
		t.Errorf("escaped device: %v, %v", d, err)
	}
}
