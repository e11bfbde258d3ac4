package stores

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// RedisCommand returns how to run the machine's redis-server for
// expiration: on 127.0.0.1:port, data in dir with the append-only file on,
// so scheduled expirations survive a restart.
func RedisCommand(dir string, port int) (func() *exec.Cmd, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, errors.New("redis-server is needed for the expiration service and was not found on PATH: " +
			"install it with `sudo apt-get install redis-server` (Debian/Ubuntu) or `brew install redis` (macOS)")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	return func() *exec.Cmd {
		return exec.Command(bin,
			"--bind", "127.0.0.1", "--port", strconv.Itoa(port),
			"--dir", dir,
			"--appendonly", "yes", "--appendfsync", "everysec",
			"--save", "60 1",
			"--protected-mode", "yes",
			"--daemonize", "no",
			"--logfile", "", // stdout: the supervisor prefixes it
		)
	}, nil
}

// RedisReady answers nil once redis-server at addr replies PONG and has
// loaded its data.
func RedisReady(ctx context.Context, addr string) error {
	var d net.Dialer
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if strings.TrimSpace(line) != "+PONG" {
		return fmt.Errorf("redis answered %q", strings.TrimSpace(line))
	}
	return nil
}

// StripeMockVersion is the version `make tools` installs.
const StripeMockVersion = "v0.203.0"

// StripeMockCommand returns how to run stripe-mock (from PATH or
// $(go env GOPATH)/bin) on 127.0.0.1:port.
func StripeMockCommand(port int) (func() *exec.Cmd, error) {
	bin, err := exec.LookPath("stripe-mock")
	if err != nil {
		gopath := os.Getenv("GOPATH")
		if gopath == "" {
			if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
				gopath = strings.TrimSpace(string(out))
			}
		}
		bin = filepath.Join(strings.Split(gopath, string(os.PathListSeparator))[0], "bin", "stripe-mock")
		if _, err := os.Stat(bin); err != nil {
			return nil, errors.New("stripe-mock is needed for payments (or a real STRIPE_KEY): " +
				"go install github.com/stripe/stripe-mock@" + StripeMockVersion + " (`make tools` does it)")
		}
	}
	return func() *exec.Cmd {
		// HTTPS on a port of the system's choice: its default, 12112, is often taken.
		return exec.Command(bin, "-http-addr", "127.0.0.1:"+strconv.Itoa(port), "-https-addr", "127.0.0.1:")
	}, nil
}
