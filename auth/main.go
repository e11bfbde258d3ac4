// Command auth serves sign-up, sign-in, sign-out and the current user of the
// ticketing platform, and issues the session cookie every service reads.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"runtime"

	"ticketing.dev/auth/httpapi"
	"ticketing.dev/auth/password"
	"ticketing.dev/auth/ratelimit"
	"ticketing.dev/auth/store"
	"ticketing.dev/common/service"
	"ticketing.dev/common/session"
)

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
		PerEmail:         ratelimit.PerMinute(cfg.RateLimitPerEmail),
		PerAddr:          ratelimit.PerMinute(cfg.RateLimitPerAddr),
		TrustedProxyHops: cfg.TrustedProxyHops,
	})
	return conns.Serve(ctx, handler)
}

func main() { service.Main(name, loadConfig, run) }
