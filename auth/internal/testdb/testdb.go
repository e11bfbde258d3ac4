// Package testdb runs a package's tests against one shared embedded FerretDB.
//
// testkit.Mongo starts a FerretDB per test, but ferretdb.New writes a package
// global (version.Get().Package), so parallel tests race under -race. One
// server per test binary avoids that; testkit.Mongo still gives every test a
// database of its own (it honours MONGO_URL).
package testdb

import (
	"context"
	"fmt"
	"os"
	"testing"

	"ticketing.dev/common/testkit"
)

// Main starts a FerretDB unless MONGO_URL is set, points MONGO_URL at it and
// runs the tests.
func Main(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	if os.Getenv("MONGO_URL") == "" {
		dir, err := os.MkdirTemp("", "auth-ferretdb-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
		uri, stop, err := testkit.StartFerretDB(context.Background(), dir, "127.0.0.1:0", nil)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer stop()
		os.Setenv("MONGO_URL", uri)
		defer os.Unsetenv("MONGO_URL")
	}
	return m.Run()
}
