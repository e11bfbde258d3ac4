package mongokit

import (
	"maps"
	"slices"
	"strconv"
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver/connstring"
)

// Counter counts the commands one test's database receives, for tests that
// pin what a flow costs in round trips to the store (a count does not
// depend on the machine's load, as a duration does).
type Counter struct {
	front *Front
	db    string
}

// Counted is Mongo reached through a Front of the test's own, which counts
// every command on the way (see Counter). It skips the test when the store
// is not one plain server (a replica set of several hosts, TLS): the Front
// forwards bytes to one address.
func Counted(t testing.TB) (*mongo.Database, *Counter) {
	t.Helper()
	uri := MongoURI(t)
	cs, err := connstring.ParseAndValidate(uri)
	if err != nil {
		t.Fatal(err)
	}
	if len(cs.Hosts) != 1 || cs.SSL {
		t.Skipf("counting needs a single plain server, not %d host(s) (tls %v)", len(cs.Hosts), cs.SSL)
	}
	front, err := StartFront("127.0.0.1:0", "tcp", cs.Hosts[0], nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(front.Close)
	db := freshDB(t, options.Client().ApplyURI(uri).SetHosts([]string{front.Addr()}).SetDirect(true))
	return db, &Counter{front: front, db: db.Name()}
}

// Take returns the commands the database answered since Counted or the
// last Take, as "name collection" (such as "update tickets") → how many,
// and counts afresh.
func (c *Counter) Take() map[string]int {
	out := map[string]int{}
	for cmd, n := range c.front.takeCounts() {
		if cmd.DB == c.db {
			out[cmd.String()] += n
		}
	}
	return out
}

// Format writes counts as "find tickets ×2, update tickets ×1", sorted, for
// test failures and logs.
func Format(counts map[string]int) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(counts)) {
		parts = append(parts, k+" ×"+strconv.Itoa(counts[k]))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}
