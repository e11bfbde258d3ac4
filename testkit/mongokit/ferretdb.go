package mongokit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/FerretDB/FerretDB/ferretdb"
)

// newMu guards ferretdb.New, which writes package-level state.
var newMu sync.Mutex

// FerretDBConfig chooses an embedded FerretDB's backend: SQLite files in
// SQLiteDir (zero set-up, the default), or PostgreSQL at PostgreSQLURL when
// set.
type FerretDBConfig struct {
	SQLiteDir     string
	PostgreSQLURL string
	// Addr is where clients connect (the Front); empty means a free
	// 127.0.0.1 port.
	Addr string
	Log  *slog.Logger // nil: quiet
}

// Backend names the backend in use, for logs and reports.
func (c FerretDBConfig) Backend() string {
	if c.PostgreSQLURL != "" {
		return "postgresql"
	}
	return "sqlite"
}

// FerretDB is an embedded FerretDB behind its Front: FerretDB listens on a
// Unix socket of its own, and clients reach it only through the Front's TCP
// address, so every client may use a connection pool (see Front).
type FerretDB struct {
	front   *Front
	sockDir string
	cancel  context.CancelFunc
	done    chan struct{}
}

// StartFerretDB runs FerretDB and its Front until Stop.
func StartFerretDB(ctx context.Context, cfg FerretDBConfig) (*FerretDB, error) {
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	// A short directory of its own: a socket path has a 108-byte limit.
	sockDir, err := os.MkdirTemp("", "ferretdb-")
	if err != nil {
		return nil, err
	}
	sock := filepath.Join(sockDir, "mongodb.sock")
	conf := &ferretdb.Config{Listener: ferretdb.ListenerConfig{Unix: sock}, Logger: log}
	if cfg.PostgreSQLURL != "" {
		conf.Handler, conf.PostgreSQLURL = "postgresql", postgreSQLURL(cfg.PostgreSQLURL)
	} else {
		if err := os.MkdirAll(cfg.SQLiteDir, 0o755); err != nil {
			_ = os.RemoveAll(sockDir)
			return nil, err
		}
		// The trailing slash matters: the URL names a directory, one file
		// per database.
		conf.Handler, conf.SQLiteURL = "sqlite", "file:"+filepath.Clean(cfg.SQLiteDir)+"/"
	}
	// ferretdb.New writes package-level state; parallel tests must not race on it.
	newMu.Lock()
	f, err := ferretdb.New(conf)
	newMu.Unlock()
	if err != nil {
		_ = os.RemoveAll(sockDir)
		return nil, fmt.Errorf("ferretdb (%s): %w", cfg.Backend(), err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	db := &FerretDB{sockDir: sockDir, cancel: cancel, done: make(chan struct{})}
	runErr := make(chan error, 1)
	go func() {
		defer close(db.done)
		runErr <- f.Run(runCtx)
	}()
	if err := waitDial(ctx, "unix", sock, 30*time.Second, runErr); err != nil {
		db.Stop()
		return nil, fmt.Errorf("ferretdb (%s) did not start: %w", cfg.Backend(), err)
	}
	addr := cfg.Addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	if db.front, err = StartFront(addr, "unix", sock, log); err != nil {
		db.Stop()
		return nil, err
	}
	return db, nil
}

// Addr is the address clients connect to.
func (f *FerretDB) Addr() string { return f.front.Addr() }

// URI is the MongoDB URI of database on this server (the driver's default
// pool: the Front makes that safe).
func (f *FerretDB) URI(database string) string {
	return "mongodb://" + f.Addr() + "/" + database
}

// Counts returns how many commands of each kind the Front forwarded (see
// Front.Counts).
func (f *FerretDB) Counts() map[Command]int { return f.front.Counts() }

// ResetCounts starts the Front's counts afresh.
func (f *FerretDB) ResetCounts() { f.front.ResetCounts() }

// Stop ends the Front and FerretDB and waits for them.
func (f *FerretDB) Stop() {
	if f.front != nil {
		f.front.Close()
	}
	f.cancel()
	<-f.done
	_ = os.RemoveAll(f.sockDir)
}

func waitDial(ctx context.Context, network, addr string, timeout time.Duration, failed <-chan error) error {
	deadline := time.Now().Add(timeout)
	for {
		c, err := net.DialTimeout(network, addr, time.Second)
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

// postgreSQLURL tunes the URL FerretDB connects with, where it does not
// say otherwise:
//   - plan_cache_mode=force_custom_plan: FerretDB's prepared lookups name
//     the field as a parameter (`_jsonb->$1 @> $2`), which no index serves
//     in a generic plan; PostgreSQL switches to one after five runs when
//     the table is small, and keeps scanning as it grows. A custom plan
//     sees the field and uses the GIN indexes of EnsurePostgreSQLIndexes.
//   - sslmode=disable for a server on this machine: pgx's default (prefer)
//     negotiates TLS, which on loopback protects nothing and costs every
//     round trip (measured: 9 % of FerretDB's CPU under create-ticket load).
func postgreSQLURL(pgURL string) string {
	u, err := url.Parse(pgURL)
	if err != nil {
		return pgURL
	}
	q := u.Query()
	if !q.Has("plan_cache_mode") {
		q.Set("plan_cache_mode", "force_custom_plan")
	}
	ip := net.ParseIP(u.Hostname())
	if !q.Has("sslmode") && (u.Hostname() == "localhost" || ip != nil && ip.IsLoopback()) {
		q.Set("sslmode", "disable")
	}
	u.RawQuery = q.Encode()
	return u.String()
}
