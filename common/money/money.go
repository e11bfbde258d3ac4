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

// Max is the highest price the platform accepts: 1,000,000.00.
const Max Cents = 100_000_000

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
