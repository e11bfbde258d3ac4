package money_test

import (
	"encoding/json"
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
