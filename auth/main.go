// Command auth serves sign-up, sign-in, sign-out and the current user of the
// ticketing platform, and issues the session cookie every service reads.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"time"

	"ticketing.dev/auth/httpapi"
	"ticketing.dev/auth/password"
	"ticketing.dev/auth/ratelimit"
	"ticketing.dev/auth/store"
	"ticketing.dev/common/events"
	"ticketing.dev/common/outbox"
	"ticketing.dev/common/service"
	"ticketing.dev/common/sweep"
)

// maxEmailDelay bounds the wait of a sign-in of an email under attack
// (httpapi.Deps.PerEmail): long enough to slow a guesser, short enough for
// its owner.
const maxEmailDelay = 2 * time.Second

func run(ctx context.Context, log *slog.Logger, cfg Config, conns *service.Conns) error {
	users := store.NewUsers(conns.DB)
	relay := outbox.NewRelay(conns.DB.Collection(store.RevocationsCollection), events.NewPublisher(conns.JS), log, cfg.OutboxSweep)
	revocations := store.NewRevocations(conns.DB, relay.Notify)
	if err := errors.Join(users.EnsureIndexes(ctx), relay.EnsureIndex(ctx)); err != nil {
		return fmt.Errorf("indexes: %w", err)
	}
	// The relay outlives the HTTP server: a sign-out it answered is
	// published before the process ends.
	stopRelay := relay.Start()
	defer stopRelay()
	// A revocation is kept a day past its token's expiry (clocks differ),
	// then pruned.
	stopPrune := sweep.New("revocations-prune", time.Hour, log, func(ctx context.Context) (int, error) {
		return revocations.Prune(ctx, time.Now().Add(-24*time.Hour))
	}).Start()
	defer stopPrune()
	// Each argon2id hash holds 19 MiB while it runs: one per CPU keeps the
	// CPU busy and memory bounded.
	hasher, err := password.New(password.OWASP, runtime.GOMAXPROCS(0))
	if err != nil {
		return err
	}

	handler := httpapi.New(httpapi.Deps{
		Log:              log,
		Keys:             conns.Sessions(cfg.JWTKey),
		Users:            users,
		Revocations:      revocations,
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
