package store_test

import (
	"testing"

	"ticketing.dev/testkit/mongokit"
)

func TestMain(m *testing.M) { mongokit.Main(m) }
