package httpapi_test

import (
	"testing"

	"ticketing.dev/auth/internal/testdb"
)

func TestMain(m *testing.M) { testdb.Main(m) }
