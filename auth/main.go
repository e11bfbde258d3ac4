// Command auth serves sign-up, sign-in, sign-out and the current user of the
// ticketing platform, and issues the session cookie every service reads.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"runtime"
	"time"

	"ticketing.dev/auth/httpapi"
	"ticketing.dev/auth/password"
	"ticketing.dev/auth/ratelimit"
	"ticketing.dev/auth/store"
	"ticketing.dev/common/service"
	"ticketing.dev/common/session"
)

// maxEmailDelay bounds the wait of a sign-in of an email under attack
// (httpapi.Deps.PerEmail): long enough to slow a guesser, short enough for
// its owner.
const maxEmailDelay = 2 * time.Second

func run(ctx context.Context, log *slog.Logger, cfg Config, conns *service.Conns) error {
	users := store.NewUsers(conns.DB)
	if err := users.EnsureIndexes(ctx); err != nil {
		return fmt.Errorf("users indexes: %w", err)
	}
	// Each argon2id hash holds 19 MiB while it runs: one per CPU keeps the
	// CPU busy and memory bounded.
	hasher, err := password.New(password.OWASP, runtime.GOMAXPROCS(0))
	if err != nil {
		return err
	}

	handler := httpapi.New(httpapi.Deps{
		Log:              log,
		Keys:             session.NewKeys(cfg.JWTKey),
		Users:            users,
		Hasher:           hasher,
		Checks:           conns.Checks,
		TokenTTL:         cfg.TokenTTL,
		CookieSecure:     cfg.CookieSecure,
		PerAddr:          ratelimit.PerMinute(cfg.RateLimitPerAddr),
		PerClientEmail:   ratelimit.PerMinute(cfg.RateLimitPerEmail),
		PerEmail:         ratelimit.PerMinute(cfg.RateLimitPerEmail),
		MaxEmailDelay:    maxEmailDelay,
		TrustedProxyHops: cfg.TrustedProxyHops,
	})
	return conns.Serve(ctx, handler)
}

func main() { service.Main(name, loadConfig, run) }
