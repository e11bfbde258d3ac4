package main

import (
	"strconv"
	"time"

	"ticketing.dev/common/config"
	"ticketing.dev/common/service"
	"ticketing.dev/common/session"
)

// name is the service's name: in its logs and traces, and its database's
// when MONGO_URI names none.
const name = "tickets"

// Config is the tickets service's configuration, from the environment.
type Config struct {
	Port        int
	MongoURI    string
	NATSURL     string
	JWTKey      string
	OutboxSweep time.Duration // how often the relay looks for events a crash left behind
	Sweep       time.Duration // how often the reconciliation sweep runs
	// ListCacheTTL is how long a page of the ticket list may be served
	// from memory when this process wrote no ticket since (0: never).
	ListCacheTTL time.Duration
}

func loadConfig(r *config.Reader) Config {
	return Config{
		Port:         r.Int("PORT", 3000, 1, 65535),
		MongoURI:     r.Required("MONGO_URI"),
		NATSURL:      r.Required("NATS_URL"),
		JWTKey:       r.SecretMinLen("JWT_KEY", session.MinKeyLen),
		OutboxSweep:  r.Duration("OUTBOX_SWEEP", time.Second),
		Sweep:        r.Duration("TICKETS_SWEEP", 5*time.Second),
		ListCacheTTL: r.NonNegativeDuration("LIST_CACHE_TTL", 250*time.Millisecond),
	}
}

// Needs is what the service connects to at start-up.
func (c Config) Needs() service.Needs { return service.Needs{MongoURI: c.MongoURI, NATSURL: c.NATSURL} }

// Addr is where the HTTP server listens.
func (c Config) Addr() string { return ":" + strconv.Itoa(c.Port) }
