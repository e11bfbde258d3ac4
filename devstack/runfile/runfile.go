// Package runfile holds what a running platform leaves in its data
// directory so that another command can find it: the pid file (locked while
// the platform runs, so two platforms never share one data directory) and a
// state file with its addresses; and how `devstack down` stops it.
package runfile

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// MarkerEnv is set in the environment of every process the platform starts,
// to the absolute data directory: children of children inherit it, so a
// process of the platform is recognisable even after its parent is gone.
const MarkerEnv = "DEVSTACK_DATA_DIR"

// ComponentEnv names, next to the marker, the component a process belongs
// to ("orders-2", "client"), for `devstack ps`.
const ComponentEnv = "DEVSTACK_COMPONENT"

// RedisDir is where the platform's redis-server keeps its data, in the data
// directory. redis-server writes its process title over its environment, so
// the marker cannot be read there: the platform's redis is recognised by
// its working directory instead (it changes into its --dir at start-up).
const RedisDir = "redis"

// PidFile is the pid file's name in the data directory.
const PidFile = "devstack.pid"

// StateFile is the state file's name in the data directory.
const StateFile = "devstack.json"

// Lock is the held pid file.
type Lock struct {
	f    *os.File
	path string
}

// Acquire takes the data directory for this process, or says which process
// has it.
func Acquire(dataDir string) (*Lock, error) {
	path := filepath.Join(dataDir, PidFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		b, _ := os.ReadFile(path)
		f.Close()
		return nil, fmt.Errorf("another devstack (pid %s) is running with data directory %s: stop it with `make down`",
			strings.TrimSpace(string(b)), dataDir)
	}
	if err := f.Truncate(0); err != nil {
		f.Close()
		return nil, err
	}
	if _, err := f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0); err != nil {
		f.Close()
		return nil, err
	}
	return &Lock{f: f, path: path}, nil
}

// Release removes the pid file and unlocks it.
func (l *Lock) Release() {
	_ = os.Remove(l.path)
	_ = os.Remove(filepath.Join(filepath.Dir(l.path), StateFile))
	_ = l.f.Close()
}

// State describes a running platform.
type State struct {
	Pid        int               `json:"pid"`
	URL        string            `json:"url"`
	Gateway    string            `json:"gateway"`
	NATS       string            `json:"nats"` // with the admin's credentials: the file is the owner's only
	Redis      string            `json:"redis,omitempty"`
	Mongo      map[string]string `json:"mongo"`
	Components map[string]string `json:"components"` // name → 127.0.0.1:port
	Metrics    map[string]string `json:"metrics"`    // service replica → its /metrics 127.0.0.1:port
}

// WriteState records the state next to the pid file.
func WriteState(dataDir string, s State) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	tmp := filepath.Join(dataDir, StateFile+".tmp")
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(dataDir, StateFile))
}

// ReadState reads the state of the platform running on dataDir.
func ReadState(dataDir string) (State, error) {
	var s State
	b, err := os.ReadFile(filepath.Join(dataDir, StateFile))
	if err != nil {
		return s, err
	}
	return s, json.Unmarshal(b, &s)
}

// Down stops the platform running on dataDir: SIGTERM to the devstack
// process, which stops everything in order; SIGKILL after timeout; then any
// process of the platform left behind (if devstack itself was killed) gets
// SIGTERM and then SIGKILL. It reports what it did through say.
func Down(dataDir string, timeout time.Duration, say func(string)) error {
	pid := runningPid(dataDir)
	if pid == 0 {
		say("no devstack is running on " + dataDir)
	} else {
		say(fmt.Sprintf("stopping devstack (pid %d)…", pid))
		_ = syscall.Kill(pid, syscall.SIGTERM)
		if !waitGone(func() bool { return alive(pid) }, timeout) {
			say("devstack did not stop in time: killing it")
			_ = syscall.Kill(pid, syscall.SIGKILL)
			waitGone(func() bool { return alive(pid) }, 5*time.Second)
		}
	}
	if err := StopLeftovers(dataDir, say); err != nil {
		return err
	}
	say("stopped")
	return nil
}

// StopLeftovers ends the processes of a platform on dataDir whose devstack
// is gone (killed, so it could not stop them): SIGTERM, then SIGKILL.
func StopLeftovers(dataDir string, say func(string)) error {
	left := Processes(dataDir)
	if len(left) == 0 {
		return nil
	}
	names := make([]string, len(left))
	for i, p := range left {
		names[i] = p.String()
	}
	say(fmt.Sprintf("stopping %d leftover process(es) of an earlier run: %s", len(left), strings.Join(names, ", ")))
	signal := func(sig syscall.Signal) {
		for _, p := range Processes(dataDir) {
			_ = syscall.Kill(p.Pid, sig)
		}
	}
	signal(syscall.SIGTERM)
	if !waitGone(func() bool { return len(Processes(dataDir)) > 0 }, 10*time.Second) {
		signal(syscall.SIGKILL)
		waitGone(func() bool { return len(Processes(dataDir)) > 0 }, 5*time.Second)
	}
	if left := Processes(dataDir); len(left) > 0 {
		return fmt.Errorf("processes still running: %v", left)
	}
	return nil
}

// runningPid is the pid of the devstack holding dataDir's pid file, or 0.
func runningPid(dataDir string) int {
	path := filepath.Join(dataDir, PidFile)
	f, err := os.Open(path)
	if err != nil {
		return 0
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB); err == nil {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		return 0 // nobody holds it: a stale file
	}
	b, _ := os.ReadFile(path)
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid
}

func waitGone(present func() bool, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for present() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
	return true
}

// Process is a live process of a platform.
type Process struct {
	Pid  int
	Name string // its component, e.g. "orders-2" or "redis"
}

func (p Process) String() string { return strconv.Itoa(p.Pid) + " " + p.Name }

// Processes lists the live processes (other than this one) of the platform
// on dataDir: those whose environment carries its marker, and its
// redis-server.
func Processes(dataDir string) []Process {
	abs, err := filepath.Abs(dataDir)
	if err != nil {
		return nil
	}
	// Framed by NULs, the marker matches a whole variable only.
	marker := []byte("\x00" + MarkerEnv + "=" + abs + "\x00")
	// The kernel reports a working directory with its symbolic links
	// resolved.
	redisDir := filepath.Join(abs, RedisDir)
	if resolved, err := filepath.EvalSymlinks(redisDir); err == nil {
		redisDir = resolved
	}
	var procs []Process
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() || !alive(pid) {
			continue
		}
		dir := "/proc/" + e.Name()
		env, _ := os.ReadFile(dir + "/environ")
		env = append(append([]byte{0}, env...), 0) // every variable framed by NULs
		switch {
		case bytes.Contains(env, marker):
			name := "?"
			if _, v, ok := bytes.Cut(env, []byte("\x00"+ComponentEnv+"=")); ok {
				name = string(v[:bytes.IndexByte(v, 0)])
			}
			procs = append(procs, Process{Pid: pid, Name: name})
		case isRedis(dir, redisDir):
			procs = append(procs, Process{Pid: pid, Name: "redis"})
		}
	}
	return procs
}

// isRedis tells whether the process at /proc/<pid> is a redis-server working
// in redisDir. Its title (its command line) still starts with the program
// it runs; the working directory tells which platform's it is. Both are read
// from the live process, so a reused pid or a stale file cannot fool it.
func isRedis(procDir, redisDir string) bool {
	if cwd, err := os.Readlink(procDir + "/cwd"); err != nil || cwd != redisDir {
		return false
	}
	cmdline, _ := os.ReadFile(procDir + "/cmdline")
	fields := strings.Fields(strings.ReplaceAll(string(cmdline), "\x00", " "))
	return len(fields) > 0 && filepath.Base(fields[0]) == "redis-server"
}

// alive tells whether pid runs (a zombie does not count: it is only
// waiting for its parent to collect it).
func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return false
	}
	fields := strings.Fields(string(b[i+1:]))
	return len(fields) > 0 && fields[0] != "Z" && fields[0] != "X"
}
