package main

import (
	"strconv"
	"time"

	"ticketing.dev/common/config"
	"ticketing.dev/common/events"
	"ticketing.dev/common/service"
	"ticketing.dev/common/session"
)

// name is the service's name: in its logs and traces, and its database's
// when MONGO_URI names none.
const name = "auth"

// Config is auth's configuration, read from the environment.
type Config struct {
	Port         int
	MongoURI     string
	NATSURL      string
	JWTKey       string
	TokenTTL     time.Duration
	CookieSecure bool
	OutboxSweep  time.Duration // how often the relay looks for events a crash left behind
	// Counted per replica, a minute: failed sign-ins per email from one
	// client address (over it: 429) and from all of them (over it: sign-ins
	// of the email are slowed down); sign-up and sign-in attempts per client
	// address (over it: 429).
	RateLimitPerEmail int
	RateLimitPerAddr  int
	// TrustedProxyHops: how many proxies in front append to X-Forwarded-For.
	// 0 (the default) ignores the header: behind a gateway every client then
	// shares the gateway's address and RATE_LIMIT_PER_ADDR.
	TrustedProxyHops int
}

func loadConfig(r *config.Reader) Config {
	return Config{
		Port:              r.Int("PORT", 3000, 1, 65535),
		MongoURI:          r.Required("MONGO_URI"),
		NATSURL:           r.Required("NATS_URL"),
		JWTKey:            r.SecretMinLen("JWT_KEY", session.MinKeyLen),
		TokenTTL:          tokenTTL(r),
		CookieSecure:      r.Bool("COOKIE_SECURE", true),
		OutboxSweep:       r.Duration("OUTBOX_SWEEP", time.Second),
		RateLimitPerEmail: r.Int("RATE_LIMIT_PER_EMAIL", 10, 1, 1_000_000),
		RateLimitPerAddr:  r.Int("RATE_LIMIT_PER_ADDR", 300, 1, 1_000_000),
		TrustedProxyHops:  r.Int("TRUSTED_PROXY_HOPS", 0, 0, 10),
	}
}

// tokenTTL is TOKEN_TTL: at most the session stream's MaxAge, which must
// keep a sign-out for as long as its token could be presented.
func tokenTTL(r *config.Reader) time.Duration {
	ttl := r.Duration("TOKEN_TTL", 24*time.Hour)
	if ttl > events.MaxAge {
		r.Problem("TOKEN_TTL must be at most %s (how long the session stream keeps a sign-out), got %s", events.MaxAge, ttl)
	}
	return ttl
}

// Needs is what the service connects to at start-up.
func (c Config) Needs() service.Needs { return service.Needs{MongoURI: c.MongoURI, NATSURL: c.NATSURL} }

// Addr is where the HTTP server listens.
func (c Config) Addr() string { return ":" + strconv.Itoa(c.Port) }
