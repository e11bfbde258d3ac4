package testkit

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/FerretDB/FerretDB/ferretdb"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

var newMu sync.Mutex

// RandomName returns prefix followed by random hex, for databases, queues
// and key prefixes that no other run shares.
func RandomName(prefix string) string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// MongoURI returns the URI of a store for this test: MONGO_URL when set
// (a real MongoDB), otherwise an embedded FerretDB with a SQLite backend in
// a temporary directory, started for this test alone.
//
// FerretDB 1.x applies an update by reading the document, changing it in Go
// and writing it back, with nothing stopping another connection in between:
// concurrent updates of one document can be lost (measured: 20 concurrent
// version-filtered updates, 3 winners). MongoDB makes every single-document
// update atomic, and the services rely on that, so the FerretDB URI limits
// each client to one connection (maxPoolSize=1), which serialises that
// client's operations. Unique indexes hold either way.
func MongoURI(t testing.TB) string {
	t.Helper()
	if uri := os.Getenv("MONGO_URL"); uri != "" {
		return uri
	}
	if ok, _ := Docker(); ok {
		uri, stop, err := startMongoContainer(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(stop)
		return uri
	}
	uri, stop, err := StartFerretDB(context.Background(), t.TempDir(), "127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	return uri
}

// Mongo returns a fresh database, dropped when the test ends.
func Mongo(t testing.TB) *mongo.Database {
	t.Helper()
	client, err := mongo.Connect(options.Client().ApplyURI(MongoURI(t)).SetTimeout(30 * time.Second))
	if err != nil {
		t.Fatal(err)
	}
	db := client.Database(RandomName("test_"))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = db.Drop(ctx)
		_ = client.Disconnect(ctx)
	})
	return db
}

// StartFerretDB runs an embedded FerretDB (SQLite backend in dir) on addr and
// returns its MongoDB URI and a function that stops it. log may be nil for
// a quiet server.
func StartFerretDB(ctx context.Context, dir, addr string, log *slog.Logger) (string, func(), error) {
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if addr == "127.0.0.1:0" {
		// FerretDB reports its URI from the configured address, so pick a
		// concrete free port first.
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return "", nil, err
		}
		addr = ln.Addr().String()
		_ = ln.Close()
	}
	// ferretdb.New writes package-level state; parallel tests must not race on it.
	newMu.Lock()
	f, err := ferretdb.New(&ferretdb.Config{
		Listener:  ferretdb.ListenerConfig{TCP: addr},
		Handler:   "sqlite",
		SQLiteURL: "file:" + dir + "/",
		Logger:    log,
	})
	newMu.Unlock()
	if err != nil {
		return "", nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = f.Run(ctx)
	}()
	uri := SerialURI(f.MongoDBURI())
	if err := waitTCP(addr, 10*time.Second); err != nil {
		cancel()
		<-done
		return "", nil, errors.Join(errors.New("ferretdb did not start"), err)
	}
	return uri, func() { cancel(); <-done }, nil
}

// SerialURI limits a FerretDB URI to one connection per client; see MongoURI.
func SerialURI(uri string) string {
	u, err := url.Parse(uri)
	if err != nil {
		return uri
	}
	q := u.Query()
	q.Set("maxPoolSize", "1")
	u.RawQuery = q.Encode()
	return u.String()
}

func waitTCP(addr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			return c.Close()
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(10 * time.Millisecond)
	}
}
