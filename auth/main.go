// Command auth serves sign-up, sign-in, sign-out and the current user of the
// ticketing platform, and issues the session cookie every service reads.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"syscall"

	"ticketing.dev/auth/httpapi"
	"ticketing.dev/auth/password"
	"ticketing.dev/auth/ratelimit"
	"ticketing.dev/auth/store"
	"ticketing.dev/common/config"
	"ticketing.dev/common/logging"
	"ticketing.dev/common/mongodb"
	"ticketing.dev/common/server"
	"ticketing.dev/common/session"
	"ticketing.dev/common/tracing"
)

func main() {
	log := logging.New("auth")
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	err := run(ctx, log)
	stop()
	if err != nil {
		log.Error("auth stopped", "err", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, log *slog.Logger) error {
	env := config.FromEnv()
	cfg, err := loadConfig(env)
	if err != nil {
		return err
	}
	log.Info("configuration", "env", env.Describe())

	stopTracing, err := tracing.Setup(ctx, "auth", log)
	if err != nil {
		return fmt.Errorf("tracing: %w", err)
	}
	defer stopTracing()

	client, db, err := mongodb.Connect(ctx, cfg.MongoURI, "auth")
	if err != nil {
		return err
	}
	defer func() { _ = client.Disconnect(context.Background()) }()
	users := store.NewUsers(db)
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
		Checks:           map[string]server.Check{"mongo": mongodb.Ping(client)},
		TokenTTL:         cfg.TokenTTL,
		CookieSecure:     cfg.CookieSecure,
		PerEmail:         ratelimit.PerMinute(cfg.RateLimitPerEmail),
		PerAddr:          ratelimit.PerMinute(cfg.RateLimitPerAddr),
		TrustedProxyHops: cfg.TrustedProxyHops,
	})
	return server.Run(ctx, log, ":"+strconv.Itoa(cfg.Port), handler)
}
