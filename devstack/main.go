// Command devstack runs the whole ticketing platform on this machine, without
// Kubernetes or Docker: `devstack` (what `make up` runs) starts it and stops
// it on Ctrl-C; `devstack down` stops one running in the background;
// `devstack ps` lists the processes of a platform (none once it stopped).
//
// Environment: DATA_DIR (./.data), GATEWAY_ADDR (:8080), JWT_KEY, STRIPE_KEY,
// STRIPE_API_BASE, ORDER_EXPIRATION_WINDOW, ORDER_EXPIRATION_GRACE, FERRETDB_POSTGRESQL_URL,
// REPLICAS (processes of each service, 1), DEVSTACK_SKIP (e.g. "client"),
// DEVSTACK_PPROF (a loopback address such as 127.0.0.1:6060: Go's profiler
// for this process, which runs the gateway, NATS and the FerretDBs;
// `go tool pprof http://ADDR/debug/pprof/profile`).
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"ticketing.dev/common/server"
	"ticketing.dev/devstack/platform"
	"ticketing.dev/devstack/runfile"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "[devstack] error:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	cfg, err := platform.ConfigFromEnv(os.Getenv)
	if err != nil {
		return err
	}
	cmd := "up"
	if len(args) > 0 {
		cmd = args[0]
	}
	switch cmd {
	case "up":
		return up(cfg)
	case "down":
		return runfile.Down(cfg.DataDir, 60*time.Second, func(s string) { fmt.Println("[devstack]", s) })
	case "ps":
		// Every process of the platform on DATA_DIR, one a line: its pid
		// and its component (each replica of a service is one, "orders-2");
		// nothing once it stopped.
		for _, proc := range runfile.Processes(cfg.DataDir) {
			fmt.Println(proc)
		}
		return nil
	default:
		return fmt.Errorf("usage: devstack [up|down|ps] (got %q)", cmd)
	}
}

func up(cfg platform.Config) error {
	if addr := os.Getenv("DEVSTACK_PPROF"); addr != "" {
		at, stop, err := server.Pprof(addr)
		if err != nil {
			return fmt.Errorf("DEVSTACK_PPROF: %w", err)
		}
		defer stop()
		fmt.Printf("[devstack] profiler at http://%s/debug/pprof/\n", at)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	go func() {
		// A second Ctrl-C does not wait for the orderly stop: exiting kills
		// every child through Pdeathsig.
		<-ctx.Done()
		again := make(chan os.Signal, 1)
		signal.Notify(again, syscall.SIGINT, syscall.SIGTERM)
		stop()
		// The same Ctrl-C can arrive twice (the terminal signals the whole
		// foreground group, and so does timeout(1)): only a later one forces.
		first := time.Now()
		for range again {
			if time.Since(first) > time.Second {
				break
			}
		}
		fmt.Fprintln(os.Stderr, "[devstack] forced stop")
		os.Exit(130)
	}()
	return platform.Run(ctx, cfg, os.Stdout)
}
