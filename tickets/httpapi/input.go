package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"ticketing.dev/common/apperr"
	"ticketing.dev/common/money"
)

// maxTitle is the longest title accepted, in characters.
const maxTitle = 200

// Messages for price failures. Creating and editing word the general one
// differently, as the original service did.
const (
	priceMessageCreate = "Price must be greater than 0"
	priceMessageEdit   = "Price must be provided and must be greater than 0"
)

var (
	titleRequired   = "Title is required"
	titleTooLong    = fmt.Sprintf("Title must be at most %d characters", maxTitle)
	titleControl    = "Title must not contain control or text-direction characters"
	priceTooHigh    = fmt.Sprintf("Price must be at most %d.%02d", money.Max/100, money.Max%100)
	priceTooLow     = fmt.Sprintf("Price must be at least %d.%02d", money.Min/100, money.Min%100)
	priceTooPrecise = "Price must have at most two decimal places"
)

// ticketRequest is the body of POST and PUT. Both fields stay raw so that a
// wrong type in one of them is reported with the other's problems, and so
// that the price is read exactly (never through float64).
type ticketRequest struct {
	Title json.RawMessage `json:"title"`
	Price json.RawMessage `json:"price"`
}

// ticketInput is a valid ticketRequest.
type ticketInput struct {
	Title string
	Price money.Cents
}

// validate checks every field and reports each one that fails.
// priceMessage is the general price message of the route.
func (req ticketRequest) validate(priceMessage string) (ticketInput, error) {
	var in ticketInput
	var problems []apperr.FieldError
	title, msg := parseTitle(req.Title)
	if msg != "" {
		problems = append(problems, apperr.FieldError{Field: "title", Message: msg})
	}
	in.Title = title
	price, msg := parsePrice(req.Price, priceMessage)
	if msg != "" {
		problems = append(problems, apperr.FieldError{Field: "price", Message: msg})
	}
	in.Price = price
	if len(problems) > 0 {
		return ticketInput{}, apperr.Validation(problems...)
	}
	return in, nil
}

// parseTitle accepts a JSON string that is not blank once trimmed and not
// longer than maxTitle characters; it returns it trimmed, or the message
// for the client when it is not acceptable.
func parseTitle(raw json.RawMessage) (string, string) {
	var title string
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return "", titleRequired
	}
	if err := json.Unmarshal(raw, &title); err != nil {
		return "", "Title must be a string"
	}
	title = strings.TrimSpace(title)
	switch {
	case title == "":
		return "", titleRequired
	case utf8.RuneCountInString(title) > maxTitle:
		return "", titleTooLong
	case strings.IndexFunc(title, unsafeInTitle) >= 0:
		return "", titleControl
	}
	return title, ""
}

// unsafeInTitle tells the characters a title may not hold: control
// characters (NUL, escapes, line breaks) and the bidirectional controls that
// make text read differently than it is stored (U+202E turns "exe.pdf"
// around).
func unsafeInTitle(r rune) bool {
	switch {
	case unicode.IsControl(r):
		return true
	case r >= 0x202A && r <= 0x202E, r >= 0x2066 && r <= 0x2069, r == 0x200E, r == 0x200F, r == 0x061C:
		return true
	}
	return false
}

// parsePrice accepts a JSON number or numeric string with at most two
// decimals from money.Min to money.Max (what Stripe can charge). It returns
// the message for the client when the price is not acceptable: the route's
// general one for a missing, malformed or non-positive price, else the bound
// it misses.
func parsePrice(raw json.RawMessage, general string) (money.Cents, string) {
	var c money.Cents
	if len(raw) == 0 {
		return 0, general
	}
	err := c.UnmarshalJSON(raw)
	switch {
	case errors.Is(err, money.ErrTooPrecise):
		return 0, priceTooPrecise
	case errors.Is(err, money.ErrOutOfRange) && !isNegative(raw):
		return 0, priceTooHigh
	case err != nil, c <= 0:
		return 0, general
	case c < money.Min:
		return 0, priceTooLow
	case c > money.Max:
		return 0, priceTooHigh
	}
	return c, ""
}

func isNegative(raw json.RawMessage) bool {
	return strings.HasPrefix(strings.TrimLeft(string(raw), "\" \t\r\n"), "-")
}
