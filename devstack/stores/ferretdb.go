package stores

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/FerretDB/FerretDB/ferretdb"
)

// FerretDB is an embedded MongoDB-wire server.
type FerretDB struct {
	uri    string
	cancel context.CancelFunc
	done   chan struct{}
}

// FerretDBConfig chooses the backend: SQLite files in SQLiteDir (zero set-up,
// the default), or PostgreSQL at PostgreSQLURL when set.
type FerretDBConfig struct {
	SQLiteDir     string
	PostgreSQLURL string
	Log           *slog.Logger
}

// Backend names the backend in use, for logs and the report.
func (c FerretDBConfig) Backend() string {
	if c.PostgreSQLURL != "" {
		return "postgresql"
	}
	return "sqlite"
}

// StartFerretDB runs FerretDB on a free 127.0.0.1 port.
func StartFerretDB(ctx context.Context, cfg FerretDBConfig) (*FerretDB, error) {
	var err error
	for range 5 { // the port may be taken between the check and the bind
		var db *FerretDB
		if db, err = startFerretDB(ctx, cfg); err == nil {
			return db, nil
		}
		if !strings.Contains(err.Error(), "address already in use") {
			return nil, err
		}
	}
	return nil, err
}

func startFerretDB(ctx context.Context, cfg FerretDBConfig) (*FerretDB, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	conf := &ferretdb.Config{
		Listener: ferretdb.ListenerConfig{TCP: addr},
		Logger:   cfg.Log,
	}
	if cfg.PostgreSQLURL != "" {
		conf.Handler, conf.PostgreSQLURL = "postgresql", cfg.PostgreSQLURL
	} else {
		if err := os.MkdirAll(cfg.SQLiteDir, 0o755); err != nil {
			return nil, err
		}
		// The trailing slash matters: the URL names a directory, one file
		// per database.
		conf.Handler, conf.SQLiteURL = "sqlite", "file:"+cfg.SQLiteDir+"/"
	}
	f, err := ferretdb.New(conf)
	if err != nil {
		return nil, fmt.Errorf("ferretdb: %w", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	db := &FerretDB{uri: f.MongoDBURI(), cancel: cancel, done: make(chan struct{})}
	runErr := make(chan error, 1)
	go func() {
		defer close(db.done)
		runErr <- f.Run(ctx)
	}()
	if err := waitTCP(ctx, addr, 30*time.Second, runErr); err != nil {
		db.Stop()
		return nil, fmt.Errorf("ferretdb (%s) did not start: %w", cfg.Backend(), err)
	}
	return db, nil
}

// URI is the server's MongoDB URI for database name. It limits each client
// to one connection: FerretDB 1.x applies an update as a read and a write
// with nothing stopping another connection in between, so concurrent
// version-filtered updates could both win; one connection per service
// serialises its operations and keeps MongoDB's single-document atomicity,
// which the services rely on (see testkit/mongokit.MongoURI).
func (f *FerretDB) URI(database string) string {
	return "mongodb://" + hostOf(f.uri) + "/" + database + "?maxPoolSize=1"
}

// Stop ends the server and waits for it.
func (f *FerretDB) Stop() {
	f.cancel()
	<-f.done
}

func hostOf(uri string) string {
	const scheme = "mongodb://"
	rest := uri[len(scheme):]
	for i, c := range rest {
		if c == '/' || c == '?' {
			return rest[:i]
		}
	}
	return rest
}

func freeAddr() (string, error) {
	port, err := FreePort()
	if err != nil {
		return "", err
	}
	return "127.0.0.1:" + strconv.Itoa(port), nil
}

// Ports are chosen below Linux's ephemeral range (32768–60999): a port
// found free there can still be taken, before the process that is to
// listen on it starts, by the local end of any outgoing connection.
const portLow, portHigh = 20000, 32768

// FreePort returns a 127.0.0.1 port that was free a moment ago.
func FreePort() (int, error) {
	for range 100 {
		port := portLow + mrand.IntN(portHigh-portLow)
		ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err == nil {
			_ = ln.Close()
			return port, nil
		}
	}
	return 0, errors.New("no free port found between 20000 and 32767")
}

func waitTCP(ctx context.Context, addr string, timeout time.Duration, failed <-chan error) error {
	deadline := time.Now().Add(timeout)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			return c.Close()
		}
		select {
		case e := <-failed:
			if e == nil {
				e = errors.New("stopped")
			}
			return e
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return err
		}
	}
}
