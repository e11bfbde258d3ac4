package reconcile_test

import (
	"testing"

	"ticketing.dev/testkit/mongokit"
)

// One store for the test binary; every test still gets a database of its own.
func TestMain(m *testing.M) { mongokit.Main(m) }
