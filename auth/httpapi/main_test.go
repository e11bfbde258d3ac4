package httpapi_test

import (
	"testing"

	"ticketing.dev/common/testkit"
)

func TestMain(m *testing.M) { testkit.Main(m) }
