// Package money holds amounts as integer cents. In JSON an amount is a number
// in currency units with at most two decimals (19.99), as the contract shows.
package money

import (
	"bytes"
	"encoding/json"
	"errors"
	"math/big"
	"strconv"
	"strings"
)

// Cents is an amount of money in the smallest currency unit.
type Cents int64

// Min and Max bound the prices the platform accepts: what Stripe can charge
// in USD, 0.50 to 999,999.99.
const (
	Min Cents = 50
	Max Cents = 99_999_999
)

// maxLen and maxExponent bound what Parse reads at all: big.Rat would spend
// tens of milliseconds of CPU on "1e999999", and a price needs neither.
const (
	maxLen      = 32
	maxExponent = 20
)

var (
	ErrNotNumber  = errors.New("not a number")
	ErrTooPrecise = errors.New("more than two decimal places")
	ErrOutOfRange = errors.New("out of range")
)

// Parse reads a decimal such as "19.99", "20" or "1e2" exactly, without
// floating-point rounding, and rejects more than two decimal places.
func Parse(s string) (Cents, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, ErrNotNumber
	}
	if err := precheck(s); err != nil {
		return 0, err
	}
	r, ok := new(big.Rat).SetString(s)
	if !ok || strings.ContainsAny(s, "/xXpP_") || strings.EqualFold(s, "inf") || strings.Contains(strings.ToLower(s), "nan") {
		return 0, ErrNotNumber
	}
	r.Mul(r, big.NewRat(100, 1))
	if !r.IsInt() {
		return 0, ErrTooPrecise
	}
	n := r.Num()
	if !n.IsInt64() || n.Int64() > int64(Max)*10 || n.Int64() < -int64(Max)*10 {
		return 0, ErrOutOfRange
	}
	return Cents(n.Int64()), nil
}

// precheck rejects, before any arithmetic, a string longer than maxLen and
// an exponent beyond ±maxExponent: a large one is out of range, a small one
// too precise (a zero mantissa is left to Parse: 0e999 is 0).
func precheck(s string) error {
	if len(s) > maxLen {
		if strings.HasPrefix(s, "-") {
			return ErrNotNumber
		}
		return ErrOutOfRange
	}
	i := strings.IndexAny(s, "eE")
	if i < 0 {
		return nil
	}
	exp, err := strconv.Atoi(s[i+1:])
	if err != nil {
		return ErrNotNumber
	}
	if exp >= -maxExponent && exp <= maxExponent || strings.Trim(s[:i], "+-0.") == "" {
		return nil
	}
	if exp < 0 {
		return ErrTooPrecise
	}
	return ErrOutOfRange
}

// String formats the amount in currency units with no trailing zeros: 19.99, 20, 0.5.
func (c Cents) String() string {
	neg := c < 0
	if neg {
		c = -c
	}
	s := strconv.FormatInt(int64(c/100), 10)
	if frac := c % 100; frac != 0 {
		s += "." + strings.TrimRight(strconv.FormatInt(int64(100+frac), 10)[1:], "0")
	}
	if neg {
		s = "-" + s
	}
	return s
}

// MarshalJSON writes a JSON number in currency units.
func (c Cents) MarshalJSON() ([]byte, error) { return []byte(c.String()), nil }

// UnmarshalJSON accepts a JSON number or a numeric string in currency units.
func (c *Cents) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return ErrNotNumber
		}
		b = []byte(s)
	} else if !json.Valid(b) || bytes.Equal(b, []byte("null")) || b[0] == '{' || b[0] == '[' || b[0] == 't' || b[0] == 'f' {
		return ErrNotNumber
	}
	v, err := Parse(string(b))
	if err != nil {
		return err
	}
	*c = v
	return nil
}
