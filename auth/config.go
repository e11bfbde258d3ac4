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
const name = "auth"

// Config is auth's configuration, read from the environment.
type Config struct {
	Port         int
	MongoURI     string
	JWTKey       string
	TokenTTL     time.Duration
	CookieSecure bool
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
		JWTKey:            r.SecretMinLen("JWT_KEY", session.MinKeyLen),
		TokenTTL:          r.Duration("TOKEN_TTL", 24*time.Hour),
		CookieSecure:      r.Bool("COOKIE_SECURE", true),
		RateLimitPerEmail: r.Int("RATE_LIMIT_PER_EMAIL", 10, 1, 1_000_000),
		RateLimitPerAddr:  r.Int("RATE_LIMIT_PER_ADDR", 300, 1, 1_000_000),
		TrustedProxyHops:  r.Int("TRUSTED_PROXY_HOPS", 0, 0, 10),
	}
}

// Needs is what the service connects to at start-up.
func (c Config) Needs() service.Needs { return service.Needs{MongoURI: c.MongoURI} }

// Addr is where the HTTP server listens.
func (c Config) Addr() string { return ":" + strconv.Itoa(c.Port) }
