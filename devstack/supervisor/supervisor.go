// Package supervisor runs the platform's processes: each in its own process
// group (so a stop reaches its children too, e.g. npm's node), killed by the
// kernel if the supervisor dies (Pdeathsig), restarted with backoff when it
// exits unexpectedly, and stopped with SIGTERM first and SIGKILL after a
// grace period.
package supervisor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"sync"
	"syscall"
	"time"
)

// Spec describes one supervised process.
type Spec struct {
	Name string
	// Command builds a fresh command for each (re)start; the supervisor sets
	// its output and process attributes.
	Command func() *exec.Cmd
	// Restart tells whether an unexpected exit starts the process again.
	Restart bool
	// StopTimeout is how long SIGTERM is given before SIGKILL (default 10 s).
	StopTimeout time.Duration
	// OnStart, when set, is called after each start: a restarted replica
	// is a new process, not ready until its own probe says so.
	OnStart func()
}

// Supervisor starts and watches processes.
type Supervisor struct {
	// Backoff between restarts: doubling from MinBackoff up to MaxBackoff,
	// back to MinBackoff once a run lasted StableAfter. Set before Start.
	MinBackoff, MaxBackoff, StableAfter time.Duration

	out   *Output
	log   io.Writer
	spawn chan func()
}

// New returns a supervisor writing each process's output to out, prefixed by
// its name, and its own notes under [supervisor].
func New(out *Output) *Supervisor {
	s := &Supervisor{
		MinBackoff: 250 * time.Millisecond, MaxBackoff: 10 * time.Second, StableAfter: 30 * time.Second,
		out: out, log: out.Writer("supervisor"), spawn: make(chan func()),
	}
	// Pdeathsig fires when the *thread* that started the child exits, and Go
	// may retire threads; so every child is started from one goroutine locked
	// to its thread for the life of the process.
	go func() {
		runtime.LockOSThread()
		for f := range s.spawn {
			f()
		}
	}()
	return s
}

func (s *Supervisor) logf(format string, args ...any) {
	fmt.Fprintf(s.log, format+"\n", args...)
}

// Proc is a supervised process.
type Proc struct {
	spec Spec
	sup  *Supervisor

	mu       sync.Mutex
	cmd      *exec.Cmd
	running  bool
	starts   int
	lastExit error
	stopping bool
	stopCh   chan struct{}
	done     chan struct{}
}

// Start launches the process and supervises it until Stop.
func (s *Supervisor) Start(spec Spec) *Proc {
	if spec.StopTimeout == 0 {
		spec.StopTimeout = 10 * time.Second
	}
	p := &Proc{spec: spec, sup: s, stopCh: make(chan struct{}), done: make(chan struct{})}
	go p.supervise()
	return p
}

// Name is the process's name.
func (p *Proc) Name() string { return p.spec.Name }

// Pid is the current process id (0 while not running).
func (p *Proc) Pid() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.running {
		return 0
	}
	return p.cmd.Process.Pid
}

// Starts counts how many times the process was started.
func (p *Proc) Starts() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.starts
}

// LastExit is how the previous run ended: nil before any and after a
// successful exit.
func (p *Proc) LastExit() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.lastExit
}

// Done is closed when the process has stopped for good.
func (p *Proc) Done() <-chan struct{} { return p.done }

func (p *Proc) supervise() {
	defer close(p.done)
	backoff := p.sup.MinBackoff
	for {
		cmd := p.spec.Command()
		out := p.sup.out.Writer(p.spec.Name)
		// The pipe is ours, not exec's, so Wait returns when the process
		// exits even if a grandchild still holds the pipe; the group is
		// killed right after.
		r, w, err := os.Pipe()
		if err != nil {
			p.sup.logf("%s: %v", p.spec.Name, err)
			return
		}
		cmd.Stdout, cmd.Stderr = w, w
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}

		p.mu.Lock()
		if p.stopping {
			p.mu.Unlock()
			return
		}
		err = p.sup.start(cmd)
		_ = w.Close()
		copied := make(chan struct{})
		go func() {
			defer close(copied)
			_, _ = io.Copy(out, r)
		}()
		if err == nil {
			p.cmd = cmd
			p.running = true
			p.starts++
		}
		p.mu.Unlock()

		began := time.Now()
		if err == nil && p.spec.OnStart != nil {
			p.spec.OnStart()
		}
		if err == nil {
			err = cmd.Wait()
			killGroup(cmd.Process.Pid, syscall.SIGKILL) // leftovers of the group
		}
		select {
		case <-copied:
		case <-time.After(2 * time.Second): // a process that left the group
		}
		_ = r.Close()
		_ = out.Close()

		p.mu.Lock()
		p.running = false
		p.lastExit = err
		stopping := p.stopping
		p.mu.Unlock()
		if stopping || !p.spec.Restart {
			if !stopping && err != nil {
				p.sup.logf("%s ended: %v", p.spec.Name, err)
			}
			return
		}
		if err == nil {
			err = errors.New("exit status 0")
		}
		if time.Since(began) >= p.sup.StableAfter {
			backoff = p.sup.MinBackoff
		}
		p.sup.logf("%s ended unexpectedly (%v); restarting in %s", p.spec.Name, err, backoff)
		select {
		case <-time.After(backoff):
		case <-p.stopCh:
			return
		}
		backoff = min(2*backoff, p.sup.MaxBackoff)
	}
}

func (s *Supervisor) start(cmd *exec.Cmd) error {
	res := make(chan error, 1)
	s.spawn <- func() { res <- cmd.Start() }
	return <-res
}

// Stop sends SIGTERM to the process group, SIGKILL after the spec's
// StopTimeout (or when ctx ends), and returns once the process is gone.
func (p *Proc) Stop(ctx context.Context) {
	p.mu.Lock()
	if !p.stopping {
		p.stopping = true
		close(p.stopCh)
	}
	var pid int
	if p.running {
		pid = p.cmd.Process.Pid
	}
	p.mu.Unlock()
	if pid != 0 {
		killGroup(pid, syscall.SIGTERM)
	}
	timer := time.NewTimer(p.spec.StopTimeout)
	defer timer.Stop()
	select {
	case <-p.done:
		return
	case <-timer.C:
		p.sup.logf("%s did not stop within %s: killing it", p.spec.Name, p.spec.StopTimeout)
	case <-ctx.Done():
	}
	if pid != 0 {
		killGroup(pid, syscall.SIGKILL)
	}
	<-p.done
}

// Signal sends sig to the process itself (not its group): tests use it to
// kill a service the way a crash would.
func (p *Proc) Signal(sig syscall.Signal) error {
	pid := p.Pid()
	if pid == 0 {
		return errors.New(p.spec.Name + " is not running")
	}
	return syscall.Kill(pid, sig)
}

// killGroup signals the process group led by pid (each child is its own
// group leader).
func killGroup(pid int, sig syscall.Signal) {
	_ = syscall.Kill(-pid, sig)
}
