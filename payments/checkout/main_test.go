package checkout_test

import (
	"testing"

	"ticketing.dev/payments/internal/paytest"
)

func TestMain(m *testing.M) { paytest.Main(m) }
