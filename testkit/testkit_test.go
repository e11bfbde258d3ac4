package testkit_test

import (
	"testing"

	"ticketing.dev/testkit"
)

func TestRedisAndStripeMockStart(t *testing.T) {
	if url := testkit.RedisURL(t); url == "" {
		t.Fatal("no redis url")
	}
	if url := testkit.StripeMockURL(t); url == "" {
		t.Fatal("no stripe-mock url")
	}
}

// TestBackend says in the test output what runs the dependencies here
// (`make test` prints it): containers where a Docker engine answers, the
// embedded servers otherwise.
func TestBackend(t *testing.T) {
	t.Logf("testkit: %s", testkit.Backend())
}
