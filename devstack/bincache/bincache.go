// Package bincache keeps the programs devstack builds in the user's cache
// directory (~/.cache/ticketing-devstack), shared by every data directory
// and every test of a checkout, so that `make up` and each platform a test
// starts link the services only when their code changed: `go build -o dir/`
// leaves a binary that is already up to date as it is (0.3 s for the five
// services here, where linking them into a fresh directory took 6 s on a
// quiet machine and up to 37 s under the tests' load).
package bincache

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// Dir is the root of the cache, below the user's cache directory, so that
// `make clean` does not cost a rebuild.
func Dir() (string, error) {
	dir, err := os.UserCacheDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, "ticketing-devstack"), nil
}

// unused is how long a checkout's binaries are kept after their last use.
const unused = 14 * 24 * time.Hour

// BuildServices builds the main packages pkgs (directories relative to the
// repository at root, e.g. "auth") with one go build into this checkout's
// cache directory, and links each binary into dst under the package's base
// name. A platform runs (and restarts) its own links: a later build from a
// changed checkout replaces the cached files, never the ones a running
// platform uses. Builds of one checkout take turns across processes (a
// lock file). out receives the go command's output.
func BuildServices(ctx context.Context, root, dst string, pkgs []string, out io.Writer) error {
	if len(pkgs) == 0 {
		return nil
	}
	base, err := Dir()
	if err != nil {
		return err
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		return err
	}
	sum := sha256.Sum256([]byte(abs))
	cache := filepath.Join(base, "services", hex.EncodeToString(sum[:8]))
	if err := os.MkdirAll(cache, 0o755); err != nil {
		return err
	}
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return err
	}
	unlock, err := Lock(ctx, cache+".lock")
	if err != nil {
		return err
	}
	defer unlock()

	args := []string{"build", "-o", cache + string(filepath.Separator)}
	for _, pkg := range pkgs {
		args = append(args, "./"+pkg)
	}
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = root
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Run(); err != nil {
		return err
	}
	for _, pkg := range pkgs {
		name := filepath.Base(pkg)
		if err := link(filepath.Join(cache, name), filepath.Join(dst, name)); err != nil {
			return err
		}
	}
	Touch(cache)
	pruneUnused(filepath.Dir(cache), cache)
	return nil
}

// link makes dst the file src is now: a hard link when both are on one file
// system, a copy otherwise; written under a temporary name and renamed, so
// dst is never half there.
func link(src, dst string) error {
	tmp := dst + ".tmp"
	_ = os.Remove(tmp)
	if err := os.Link(src, tmp); err != nil {
		if err := copyFile(src, tmp); err != nil {
			_ = os.Remove(tmp)
			return err
		}
	}
	return os.Rename(tmp, dst)
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	f, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, in); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// Lock takes an exclusive flock on path (made when missing), waiting for it
// until ctx ends; unlock releases it. A process that dies releases its locks.
func Lock(ctx context.Context, path string) (unlock func(), err error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() { _ = f.Close() }, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// Touch marks path as used now, for pruning.
func Touch(path string) {
	now := time.Now()
	_ = os.Chtimes(path, now, now)
}

// pruneUnused removes the other checkouts' directories below dir that were
// not used for two weeks (the five services are about 170 MB).
func pruneUnused(dir, keep string) {
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		path := filepath.Join(dir, e.Name())
		if !e.IsDir() || path == keep {
			continue
		}
		info, err := e.Info()
		if err != nil || time.Since(info.ModTime()) <= unused {
			continue
		}
		ctx, cancel := context.WithCancel(context.Background())
		cancel() // one try: a held lock is a build under way
		if unlock, err := Lock(ctx, path+".lock"); err == nil {
			_ = os.RemoveAll(path)
			unlock()
		}
	}
}
