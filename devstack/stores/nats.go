// Package stores starts what the services depend on: NATS JetStream embedded
// in this process, and the command lines of redis-server and stripe-mock for
// the supervisor; and finds free ports. (FerretDB and its front are
// testkit/mongokit's, shared with the tests.)
package stores

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"ticketing.dev/common/natsauth"
)

// NATS is an embedded JetStream server.
type NATS struct {
	srv *server.Server
}

// StartNATS runs JetStream with its file store in dir/jetstream, so streams
// and consumers survive a restart, listening on 127.0.0.1:port (0: any free
// port), with authentication on: the permission table's users
// (natsauth.Users), each with its password from passwords.
func StartNATS(dir string, port int, passwords map[string]string) (*NATS, error) {
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
		Users:      natsauth.Users(func(user string) string { return passwords[user] }),
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

// NATSPasswords are fresh random passwords for every user of the broker
// (natsauth.UserNames), for one run of the platform.
func NATSPasswords() (map[string]string, error) {
	pw := map[string]string{}
	for _, user := range natsauth.UserNames() {
		b := make([]byte, 18)
		if _, err := rand.Read(b); err != nil {
			return nil, err
		}
		pw[user] = base64.RawURLEncoding.EncodeToString(b)
	}
	return pw, nil
}

// URL is the client URL (nats://127.0.0.1:port).
func (n *NATS) URL() string { return n.srv.ClientURL() }

// Stop shuts the server down and waits for JetStream to flush its store.
func (n *NATS) Stop() {
	n.srv.Shutdown()
	n.srv.WaitForShutdown()
}
