package httpx

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"reflect"
	"strings"

	"github.com/go-playground/validator/v10"

	"ticketing.dev/common/apperr"
	"ticketing.dev/common/mongodb"
)

// MaxBodyBytes bounds every request body.
const MaxBodyBytes = 1 << 20

// Normalizer is implemented by request types that clean their input (trim,
// lower-case) before validation.
type Normalizer interface{ Normalize() }

var validate = newValidator()

func newValidator() *validator.Validate {
	v := validator.New(validator.WithRequiredStructEnabled())
	v.RegisterTagNameFunc(jsonName)
	_ = v.RegisterValidation("notblank", func(fl validator.FieldLevel) bool {
		return strings.TrimSpace(fl.Field().String()) != ""
	})
	// An id as mongodb.ParseID reads it (either case). Not the validator's
	// own `mongodb`, which takes lower-case only while paths take both.
	_ = v.RegisterValidation("objectid", func(fl validator.FieldLevel) bool {
		_, ok := mongodb.ParseID(fl.Field().String())
		return ok
	})
	return v
}

func jsonName(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
	if name == "-" {
		return ""
	}
	if name == "" {
		return f.Name
	}
	return name
}

// Decode reads a JSON body of at most MaxBodyBytes into dst (a pointer to a
// struct), normalises it and validates it. An empty body decodes as {} so
// that validation names every missing field.
//
// Messages come from struct tags: `msg:"..."` is the field's message for any
// failed rule, and `msg_<rule>:"..."` overrides it for one rule.
func Decode(w http.ResponseWriter, r *http.Request, dst any) error {
	body := http.MaxBytesReader(w, r.Body, MaxBodyBytes)
	dec := json.NewDecoder(body)
	err := dec.Decode(dst)
	var tooLarge *http.MaxBytesError
	var typeErr *json.UnmarshalTypeError
	var typeField *apperr.FieldError
	switch {
	case err == nil:
		// One JSON value and nothing after it: {"a":1}garbage is malformed.
		if _, err := dec.Token(); !errors.Is(err, io.EOF) {
			if errors.As(err, &tooLarge) {
				return apperr.PayloadTooLarge()
			}
			return apperr.InvalidJSON()
		}
	case errors.Is(err, io.EOF):
	case errors.As(err, &tooLarge):
		return apperr.PayloadTooLarge()
	case errors.As(err, &typeErr) && typeErr.Field != "":
		// The decoder went on past the mistyped field, so the other fields
		// are still validated and every failing one is reported.
		typeField = &apperr.FieldError{Field: typeErr.Field, Message: message(reflect.TypeOf(dst), typeErr.Field, "type")}
	default:
		return apperr.InvalidJSON()
	}
	if n, ok := dst.(Normalizer); ok {
		n.Normalize()
	}
	err = Validate(dst)
	if typeField == nil {
		return err
	}
	fields := []apperr.FieldError{*typeField}
	var verr *apperr.Error
	if errors.As(err, &verr) && verr.Kind == apperr.KindValidation {
		for _, f := range verr.Messages {
			if f.Field != typeField.Field {
				fields = append(fields, f)
			}
		}
	}
	return apperr.Validation(fields...)
}

// Validate checks v's `validate` tags and reports every failing field.
func Validate(v any) error {
	err := validate.Struct(v)
	if err == nil {
		return nil
	}
	var verrs validator.ValidationErrors
	if !errors.As(err, &verrs) {
		return apperr.Internal(err)
	}
	t := reflect.TypeOf(v)
	fields := make([]apperr.FieldError, 0, len(verrs))
	seen := map[string]bool{}
	for _, fe := range verrs {
		if seen[fe.Field()] {
			continue
		}
		seen[fe.Field()] = true
		fields = append(fields, apperr.FieldError{
			Field:   fe.Field(),
			Message: message(t, fe.Field(), fe.Tag()),
		})
	}
	return apperr.Validation(fields...)
}

// message finds the message for the JSON field name of struct type t.
func message(t reflect.Type, field, rule string) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() == reflect.Struct {
		for i := range t.NumField() {
			f := t.Field(i)
			if jsonName(f) != field {
				continue
			}
			if m := f.Tag.Get("msg_" + rule); m != "" {
				return m
			}
			if m := f.Tag.Get("msg"); m != "" {
				return m
			}
		}
	}
	return field + " is invalid"
}
