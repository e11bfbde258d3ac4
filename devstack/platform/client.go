package platform

import (
	"context"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	"ticketing.dev/devstack/stores"
	"ticketing.dev/devstack/supervisor"
)

// startClient prepares the Next.js client (npm ci when node_modules is
// missing, npm run build when the build is missing or older than the
// sources) and runs `npm start` behind the gateway. It returns nil when the
// client is skipped or cannot be prepared; the platform runs without it.
func (p *platform) startClient(ctx context.Context) *supervisor.Proc {
	dir := filepath.Join(p.cfg.Root, "client")
	switch {
	case p.cfg.Skip["client"]:
		p.say("client: skipped (DEVSTACK_SKIP)")
		return nil
	case !exists(filepath.Join(dir, "package.json")):
		p.say("warning: client/ has no package.json yet: the client is not started")
		return nil
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		p.say("warning: npm not found: the client is not started (install Node.js 20.9 or newer)")
		return nil
	}
	if !exists(filepath.Join(dir, "node_modules")) {
		p.setPending("client", "npm ci")
		if !p.runStep(ctx, "client-install", dir, npm, "ci", "--no-audit", "--no-fund") {
			p.unregisterPending("client")
			return nil
		}
	}
	if stale, why := buildStale(dir); stale {
		p.say("client: building (%s)…", why)
		p.setPending("client", "npm run build")
		if !p.runStep(ctx, "client-build", dir, npm, "run", "build") {
			p.unregisterPending("client")
			return nil
		}
	}
	if ctx.Err() != nil {
		return nil
	}
	port, err := stores.FreePort()
	if err != nil {
		p.say("client: %v", err)
		return nil
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	env := map[string]string{
		"PORT": strconv.Itoa(port), "LISTEN_HOST": "127.0.0.1",
		"API_BASE_URL":            "http://" + p.gwAddr,
		"NEXT_TELEMETRY_DISABLED": "1", "NODE_ENV": "production",
	}
	proc := p.sup.Start(supervisor.Spec{
		Name: "client", Restart: true, StopTimeout: 10 * time.Second,
		Command: p.marked("client", func() *exec.Cmd {
			cmd := exec.Command(npm, "start")
			cmd.Dir = dir
			return cmd
		}, env),
	})
	p.register("client", addr, proc, httpReady("http://"+addr+"/", true))
	p.gw.SetBackend("client-srv", addr)
	return proc
}

// runStep runs a one-off set-up command under the supervisor (so its output
// is prefixed and Ctrl-C stops it) and tells whether it succeeded.
func (p *platform) runStep(ctx context.Context, name, dir, bin string, args ...string) bool {
	proc := p.sup.Start(supervisor.Spec{Name: name, Command: p.marked(name, func() *exec.Cmd {
		cmd := exec.Command(bin, args...)
		cmd.Dir = dir
		return cmd
	}, map[string]string{"NEXT_TELEMETRY_DISABLED": "1"})})
	select {
	case <-proc.Done():
	case <-ctx.Done():
		proc.Stop(context.Background())
		return false
	}
	if err := proc.LastExit(); err != nil {
		p.say("warning: client: %s failed (%v): the client is not started", name, err)
		return false
	}
	return true
}

// buildStale tells whether .next is missing or older than any source file.
func buildStale(dir string) (bool, string) {
	id, err := os.Stat(filepath.Join(dir, ".next", "BUILD_ID"))
	if err != nil {
		return true, "no build yet"
	}
	built := id.ModTime()
	var newer string
	_ = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || newer != "" {
			return filepath.SkipDir
		}
		if d.IsDir() {
			switch d.Name() {
			case "node_modules", ".next", "e2e", "test", ".git":
				return filepath.SkipDir
			}
			return nil
		}
		if info, err := d.Info(); err == nil && info.ModTime().After(built) {
			newer, _ = filepath.Rel(dir, path)
		}
		return nil
	})
	if newer != "" {
		return true, newer + " changed since the last build"
	}
	return false, ""
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
