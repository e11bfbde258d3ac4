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
const name = "orders"

// Config is the orders service's configuration, from the environment.
type Config struct {
	Port     int
	MongoURI string
	NATSURL  string
	JWTKey   string
	// Window is how long a buyer has to pay; Grace how much longer an
	// unpaid order is kept for a payment that started in time.
	Window      time.Duration
	Grace       time.Duration
	Sweep       time.Duration // how often overdue orders are looked for
	OutboxSweep time.Duration // how often the relay looks for events a crash left behind
	ActiveLimit int           // how many active orders one user may hold at once
}

func loadConfig(r *config.Reader) Config {
	return Config{
		Port:        r.Int("PORT", 3000, 1, 65535),
		MongoURI:    r.Required("MONGO_URI"),
		NATSURL:     r.Required("NATS_URL"),
		JWTKey:      r.SecretMinLen("JWT_KEY", session.MinKeyLen),
		Window:      r.Duration("ORDER_EXPIRATION_WINDOW", 15*time.Minute),
		Grace:       r.NonNegativeDuration("ORDER_EXPIRATION_GRACE", time.Minute),
		Sweep:       r.Duration("ORDER_SWEEP", 5*time.Second),
		ActiveLimit: r.Int("ORDER_ACTIVE_LIMIT", 10, 0, 1_000_000), // 0: no limit
		OutboxSweep: r.Duration("OUTBOX_SWEEP", time.Second),
	}
}

// Needs is what the service connects to at start-up.
func (c Config) Needs() service.Needs { return service.Needs{MongoURI: c.MongoURI, NATSURL: c.NATSURL} }

// Addr is where the HTTP server listens.
func (c Config) Addr() string { return ":" + strconv.Itoa(c.Port) }
