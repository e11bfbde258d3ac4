// Package stores starts what the services depend on: NATS JetStream embedded
// in this process, and the command lines of redis-server and stripe-mock for
// the supervisor; and finds free ports. (FerretDB and its front are
// testkit/mongokit's, shared with the tests.)
package stores

import (
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// NATS is an embedded JetStream server.
type NATS struct {
	srv *server.Server
}

// StartNATS runs JetStream with its file store in dir/jetstream, so streams
// and consumers survive a restart, listening on 127.0.0.1:port (0: any free
// port).
func StartNATS(dir string, port int) (*NATS, error) {
	if port == 0 {
		port = server.RANDOM_PORT
	}
	srv, err := server.NewServer(&server.Options{
		ServerName: "devstack",
		Host:       "127.0.0.1",
		Port:       port,
		JetStream:  true,
		StoreDir:   filepath.Join(dir, "jetstream"),
		NoLog:      true,
		NoSigs:     true,
	})
	if err != nil {
		return nil, fmt.Errorf("nats: %w", err)
	}
	srv.Start()
	if !srv.ReadyForConnections(30 * time.Second) {
		srv.Shutdown()
		return nil, errors.New("nats did not become ready within 30s")
	}
	return &NATS{srv: srv}, nil
}

// URL is the client URL (nats://127.0.0.1:port).
func (n *NATS) URL() string { return n.srv.ClientURL() }

// Stop shuts the server down and waits for JetStream to flush its store.
func (n *NATS) Stop() {
	n.srv.Shutdown()
	n.srv.WaitForShutdown()
}
