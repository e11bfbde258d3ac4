package money_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"ticketing.dev/common/money"
)

func TestParseAndFormat(t *testing.T) {
	tests := []struct {
		in      string
		want    money.Cents
		wantErr bool
		out     string
	}{
		{"19.99", 1999, false, "19.99"},
		{"20", 2000, false, "20"},
		{"0.5", 50, false, "0.5"},
		{"1e2", 10000, false, "100"},
		{"1000000", 100000000, false, "1000000"},
		{"0.1", 10, false, "0.1"},
		{"10.999", 0, true, ""},
		{"abc", 0, true, ""},
		{"", 0, true, ""},
		{"1/2", 0, true, ""},
		{"NaN", 0, true, ""},
		{"0e999999", 0, false, "0"},
		{"1e20", 0, true, ""},
	}
	for _, tt := range tests {
		got, err := money.Parse(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("Parse(%q) = %d, %v", tt.in, got, err)
			continue
		}
		if !tt.wantErr && got.String() != tt.out {
			t.Errorf("%d.String() = %q, want %q", got, got.String(), tt.out)
		}
	}
}

func TestJSON(t *testing.T) {
	var v struct{ Price money.Cents }
	for in, want := range map[string]money.Cents{`{"Price":19.99}`: 1999, `{"Price":"5.5"}`: 550} {
		if err := json.Unmarshal([]byte(in), &v); err != nil || v.Price != want {
			t.Errorf("%s → %d, %v", in, v.Price, err)
		}
	}
	for _, in := range []string{`{"Price":true}`, `{"Price":{}}`, `{"Price":"x"}`, `{"Price":1.234}`} {
		if err := json.Unmarshal([]byte(in), &v); err == nil {
			t.Errorf("%s accepted", in)
		}
	}
	b, _ := json.Marshal(struct{ Price money.Cents }{1999})
	if string(b) != `{"Price":19.99}` {
		t.Fatalf("marshal: %s", b)
	}
}

// Strings that would cost big.Rat real CPU are refused before it sees them,
// each with the error that names what is wrong.
func TestParseRefusesCostlyInputs(t *testing.T) {
	tests := []struct {
		in   string
		want error
	}{
		{"1e999999", money.ErrOutOfRange},
		{"1E9999999", money.ErrOutOfRange},
		{"1e-999999", money.ErrTooPrecise},
		{"-1e999999", money.ErrOutOfRange},
		{"1e99999999999999999999", money.ErrNotNumber},
		{"1e", money.ErrNotNumber},
		{strings.Repeat("9", 33), money.ErrOutOfRange},
		{"-" + strings.Repeat("9", 33), money.ErrNotNumber},
	}
	for _, tt := range tests {
		if _, err := money.Parse(tt.in); !errors.Is(err, tt.want) {
			t.Errorf("Parse(%.20q…) = %v, want %v", tt.in, err, tt.want)
		}
	}
}

func BenchmarkParseHugeExponent(b *testing.B) {
	for b.Loop() {
		_, _ = money.Parse("1e999999")
	}
}
