package httpapi_test

import (
	"testing"

	"ticketing.dev/testkit"
)

func TestMain(m *testing.M) { testkit.Main(m) }
