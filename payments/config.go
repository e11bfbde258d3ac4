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
const name = "payments"

// Config is the payments service's configuration, from the environment.
type Config struct {
	Port      int
	MongoURI  string
	NATSURL   string
	JWTKey    string
	StripeKey string
	// StripeBase is Stripe's API base URL; empty means Stripe itself
	// (stripe-mock's URL locally).
	StripeBase string
	// StripeTimeout bounds one HTTP exchange with Stripe.
	StripeTimeout time.Duration
	Sweep         time.Duration // how often abandoned claims and unsettled cancellations are looked for
	OutboxSweep   time.Duration // how often the relay looks for events a crash left behind
}

func loadConfig(r *config.Reader) Config {
	return Config{
		Port:          r.Int("PORT", 3000, 1, 65535),
		MongoURI:      r.Required("MONGO_URI"),
		NATSURL:       r.Required("NATS_URL"),
		JWTKey:        r.SecretMinLen("JWT_KEY", session.MinKeyLen),
		StripeKey:     r.Secret("STRIPE_KEY"),
		StripeBase:    r.String("STRIPE_API_BASE", ""),
		StripeTimeout: r.Duration("STRIPE_TIMEOUT", 10*time.Second),
		Sweep:         r.Duration("PAYMENTS_SWEEP", 5*time.Second),
		OutboxSweep:   r.Duration("OUTBOX_SWEEP", time.Second),
	}
}

// Needs is what the service connects to at start-up.
func (c Config) Needs() service.Needs { return service.Needs{MongoURI: c.MongoURI, NATSURL: c.NATSURL} }

// Addr is where the HTTP server listens.
func (c Config) Addr() string { return ":" + strconv.Itoa(c.Port) }
