package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"ticketing.dev/common/config"
	"ticketing.dev/common/events"
	"ticketing.dev/expiration/expiry"
	"ticketing.dev/testkit"
	"ticketing.dev/testkit/natskit"
)

func TestLoadConfigRedis(t *testing.T) {
	t.Parallel()
	const nats = "nats://n:4222"
	base := Config{Port: 3000, NATSURL: nats, Queue: "expiration"}
	with := func(f func(*Config)) Config {
		c := base
		f(&c)
		return c
	}
	tests := []struct {
		name    string
		env     map[string]string
		want    Config
		wantErr []string // each must appear in the error
	}{
		{
			name: "one Redis by URL",
			env:  map[string]string{"REDIS_URL": "redis://r:6379"},
			want: with(func(c *Config) { c.RedisURL = "redis://r:6379" }),
		},
		{
			name: "URL without a password, REDIS_PASSWORD beside it",
			env:  map[string]string{"REDIS_URL": "redis://r:6379", "REDIS_PASSWORD": "pw"},
			want: with(func(c *Config) { c.RedisURL, c.RedisPassword = "redis://r:6379", "pw" }),
		},
		{
			name: "Sentinels, blanks dropped",
			env: map[string]string{"REDIS_SENTINEL_ADDRS": " s1:26379 , s2:26379,10.0.0.3:26380 ",
				"REDIS_SENTINEL_MASTER": "mymaster"},
			want: with(func(c *Config) {
				c.RedisSentinelAddrs, c.RedisSentinelMaster = "s1:26379,s2:26379,10.0.0.3:26380", "mymaster"
			}),
		},
		{
			name: "one Sentinel by IPv6 address",
			env:  map[string]string{"REDIS_SENTINEL_ADDRS": "[::1]:26379", "REDIS_SENTINEL_MASTER": "m"},
			want: with(func(c *Config) { c.RedisSentinelAddrs, c.RedisSentinelMaster = "[::1]:26379", "m" }),
		},
		{
			name: "Sentinels with both passwords",
			env: map[string]string{"REDIS_SENTINEL_ADDRS": "s1:26379", "REDIS_SENTINEL_MASTER": "m",
				"REDIS_PASSWORD": "data-pw", "REDIS_SENTINEL_PASSWORD": "sentinel-pw"},
			want: with(func(c *Config) {
				c.RedisSentinelAddrs, c.RedisSentinelMaster = "s1:26379", "m"
				c.RedisPassword, c.RedisSentinelPassword = "data-pw", "sentinel-pw"
			}),
		},
		{
			name: "REDIS_PORT from a Kubernetes Service named redis does not count",
			env: map[string]string{"REDIS_SENTINEL_ADDRS": "s1:26379", "REDIS_SENTINEL_MASTER": "m",
				"REDIS_PORT": "tcp://10.0.0.7:6379"},
			want: with(func(c *Config) { c.RedisSentinelAddrs, c.RedisSentinelMaster = "s1:26379", "m" }),
		},
		{
			name:    "neither names both forms",
			env:     map[string]string{},
			wantErr: []string{"REDIS_URL is required", "REDIS_SENTINEL_ADDRS"},
		},
		{
			name: "URL and Sentinels",
			env: map[string]string{"REDIS_URL": "redis://r:6379", "REDIS_SENTINEL_ADDRS": "s1:26379",
				"REDIS_SENTINEL_MASTER": "m"},
			wantErr: []string{"REDIS_URL and REDIS_SENTINEL_ADDRS are both set"},
		},
		{
			name: "host and port and Sentinels",
			env: map[string]string{"REDIS_HOST": "r", "REDIS_PORT": "6379", "REDIS_SENTINEL_ADDRS": "s1:26379",
				"REDIS_SENTINEL_MASTER": "m"},
			wantErr: []string{"REDIS_HOST and REDIS_SENTINEL_ADDRS are both set"},
		},
		{
			name:    "Sentinels without the master name",
			env:     map[string]string{"REDIS_SENTINEL_ADDRS": "s1:26379"},
			wantErr: []string{"REDIS_SENTINEL_MASTER is required with REDIS_SENTINEL_ADDRS"},
		},
		{
			name:    "master name without Sentinels",
			env:     map[string]string{"REDIS_URL": "redis://r:6379", "REDIS_SENTINEL_MASTER": "m"},
			wantErr: []string{"REDIS_SENTINEL_MASTER is set without REDIS_SENTINEL_ADDRS"},
		},
		{
			name:    "Sentinel password without Sentinels",
			env:     map[string]string{"REDIS_URL": "redis://r:6379", "REDIS_SENTINEL_PASSWORD": "pw"},
			wantErr: []string{"REDIS_SENTINEL_PASSWORD is set without REDIS_SENTINEL_ADDRS"},
		},
		{
			name:    "password in the URL and in REDIS_PASSWORD",
			env:     map[string]string{"REDIS_URL": "redis://:a@r:6379", "REDIS_PASSWORD": "b"},
			wantErr: []string{"REDIS_PASSWORD is set and REDIS_URL carries a password too"},
		},
		{
			name:    "Sentinel without a port",
			env:     map[string]string{"REDIS_SENTINEL_ADDRS": "s1", "REDIS_SENTINEL_MASTER": "m"},
			wantErr: []string{"REDIS_SENTINEL_ADDRS must be a comma-separated list of host:port", `"s1"`, "missing port"},
		},
		{
			name:    "empty entry",
			env:     map[string]string{"REDIS_SENTINEL_ADDRS": "s1:26379,,s2:26379", "REDIS_SENTINEL_MASTER": "m"},
			wantErr: []string{"REDIS_SENTINEL_ADDRS must be", "empty entry"},
		},
		{
			name:    "trailing comma",
			env:     map[string]string{"REDIS_SENTINEL_ADDRS": "s1:26379,", "REDIS_SENTINEL_MASTER": "m"},
			wantErr: []string{"REDIS_SENTINEL_ADDRS must be", "empty entry"},
		},
		{
			name:    "no host",
			env:     map[string]string{"REDIS_SENTINEL_ADDRS": ":26379", "REDIS_SENTINEL_MASTER": "m"},
			wantErr: []string{"REDIS_SENTINEL_ADDRS must be", `":26379" has no host`},
		},
		{
			name:    "port not a number",
			env:     map[string]string{"REDIS_SENTINEL_ADDRS": "s1:sentinel", "REDIS_SENTINEL_MASTER": "m"},
			wantErr: []string{"REDIS_SENTINEL_ADDRS must be", "port must be an integer between 1 and 65535"},
		},
		{
			name:    "port out of range",
			env:     map[string]string{"REDIS_SENTINEL_ADDRS": "s1:26379,s2:65536", "REDIS_SENTINEL_MASTER": "m"},
			wantErr: []string{"REDIS_SENTINEL_ADDRS must be", `"s2:65536": port must be`},
		},
		{
			name:    "a URL instead of host:port",
			env:     map[string]string{"REDIS_SENTINEL_ADDRS": "redis://s1:26379", "REDIS_SENTINEL_MASTER": "m"},
			wantErr: []string{"REDIS_SENTINEL_ADDRS must be", "redis://s1:26379"},
		},
		{
			name:    "listed twice",
			env:     map[string]string{"REDIS_SENTINEL_ADDRS": "s1:26379, s1:26379", "REDIS_SENTINEL_MASTER": "m"},
			wantErr: []string{"REDIS_SENTINEL_ADDRS must be", "listed twice"},
		},
		{
			name:    "every problem at once",
			env:     map[string]string{"REDIS_URL": "redis://r:6379", "REDIS_SENTINEL_ADDRS": "s1"},
			wantErr: []string{"REDIS_URL and REDIS_SENTINEL_ADDRS", "REDIS_SENTINEL_ADDRS must be", "REDIS_SENTINEL_MASTER is required"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env := map[string]string{"NATS_URL": nats}
			for k, v := range tt.env {
				env[k] = v
			}
			got, ok := checkLoad(t, env, tt.want, tt.wantErr)
			if !ok {
				return
			}
			rdb, err := newRedis(got)
			if err != nil {
				t.Fatalf("newRedis of a valid config: %v", err)
			}
			_ = rdb.Close()
		})
	}
}

func TestRedisPasswordsAreMasked(t *testing.T) {
	t.Parallel()
	env := map[string]string{"NATS_URL": "nats://n:4222", "REDIS_SENTINEL_ADDRS": "s1:26379",
		"REDIS_SENTINEL_MASTER": "m", "REDIS_PASSWORD": "data-pw", "REDIS_SENTINEL_PASSWORD": "sentinel-pw"}
	r := config.New(func(k string) (string, bool) {
		v, ok := env[k]
		return v, ok
	})
	loadConfig(r)
	if err := r.Err(); err != nil {
		t.Fatal(err)
	}
	logged := r.Describe()
	for name, want := range map[string]string{"REDIS_PASSWORD": "***", "REDIS_SENTINEL_PASSWORD": "***",
		"REDIS_SENTINEL_ADDRS": "s1:26379", "REDIS_SENTINEL_MASTER": "m", "REDIS_URL": "(default)"} {
		if logged[name] != want {
			t.Errorf("%s logged as %q, want %q", name, logged[name], want)
		}
	}
	for name, v := range logged {
		if strings.Contains(v, "-pw") {
			t.Errorf("%s logged as %q: a password shows", name, v)
		}
	}
}

func TestNewRedis(t *testing.T) {
	t.Parallel()
	client := func(t *testing.T, cfg Config) *redis.Client {
		t.Helper()
		rdb, err := newRedis(cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = rdb.Close() })
		c, ok := rdb.(*redis.Client)
		if !ok {
			t.Fatalf("client is a %T", rdb)
		}
		return c
	}
	t.Run("URL", func(t *testing.T) {
		t.Parallel()
		opts := client(t, Config{RedisURL: "redis://r:6380/2", RedisPassword: "pw"}).Options()
		if opts.Addr != "r:6380" || opts.DB != 2 || opts.Password != "pw" {
			t.Fatalf("options addr %q db %d password %q", opts.Addr, opts.DB, opts.Password)
		}
		if opts := client(t, Config{RedisURL: "redis://:url-pw@r:6380"}).Options(); opts.Password != "url-pw" {
			t.Fatalf("password %q, want the URL's", opts.Password)
		}
	})
	t.Run("Sentinels, nothing listening: no round trip", func(t *testing.T) {
		t.Parallel()
		opts := client(t, Config{RedisSentinelAddrs: "127.0.0.1:1,127.0.0.1:2", RedisSentinelMaster: "m",
			RedisPassword: "pw"}).Options()
		if opts.Password != "pw" {
			t.Fatalf("password %q, want REDIS_PASSWORD's", opts.Password)
		}
	})
	for _, tt := range []struct {
		name    string
		cfg     Config
		wantErr string
	}{
		{"nothing", Config{}, "REDIS_URL"},
		{"not a Redis URL", Config{RedisURL: "http://r"}, "REDIS_URL"},
		{"bad Sentinel list", Config{RedisSentinelAddrs: "s1", RedisSentinelMaster: "m"}, "REDIS_SENTINEL_ADDRS"},
		{"no master name", Config{RedisSentinelAddrs: "s1:26379"}, "REDIS_SENTINEL_MASTER"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rdb, err := newRedis(tt.cfg)
			if err == nil {
				_ = rdb.Close()
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error %q does not name %s", err, tt.wantErr)
			}
		})
	}
}

// TestSentinelFailover runs a master, its replica and a Sentinel (real
// redis-server processes on loopback, passwords on both the data nodes and
// the Sentinel), points the service's client at the Sentinel, and checks
// that a job scheduled before a failover survives it and that, once the
// Sentinel promoted the replica, the same client schedules on the new
// master and the worker publishes the job's expiration.complete.
func TestSentinelFailover(t *testing.T) {
	t.Parallel()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Skip("redis-server is not installed (apt-get install redis-server): " +
			"the Sentinel failover test runs a master, a replica and a Sentinel")
	}
	const (
		masterName       = "expiration-test"
		dataPassword     = "data-secret"
		sentinelPassword = "sentinel-secret"
	)
	dataNode := func(port int, dir string) []string {
		return []string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
			"--dir", dir, "--logfile", filepath.Join(dir, "redis.log"),
			// A full sync starts at once instead of waiting 5 s for more replicas.
			"--repl-diskless-sync-delay", "0",
			// masterauth too on the master: after the failover it replicates from the replica.
			"--requirepass", dataPassword, "--masterauth", dataPassword}
	}
	master := startRedisNode(t, bin, "master", dataPassword, dataNode)
	replica := startRedisNode(t, bin, "replica", dataPassword, func(port int, dir string) []string {
		return append(dataNode(port, dir), "--replicaof", "127.0.0.1", strconv.Itoa(master.port))
	})
	waitReplicatesFrom(t, replica, master.port)
	// The Sentinel starts once the replica is in sync, so that its first
	// look at the master (INFO at once, then every 10 s) lists the replica.
	sentinel := startRedisNode(t, bin, "sentinel", sentinelPassword, func(port int, dir string) []string {
		conf := filepath.Join(dir, "sentinel.conf") // writable: the Sentinel rewrites it
		lines := []string{
			"port " + strconv.Itoa(port),
			"bind 127.0.0.1",
			"dir " + dir,
			"logfile " + filepath.Join(dir, "redis.log"),
			"requirepass " + sentinelPassword,
			fmt.Sprintf("sentinel monitor %s 127.0.0.1 %d 1", masterName, master.port),
			"sentinel auth-pass " + masterName + " " + dataPassword,
			"sentinel down-after-milliseconds " + masterName + " 5000",
			"sentinel failover-timeout " + masterName + " 20000",
		}
		if err := os.WriteFile(conf, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		return []string{conf, "--sentinel"}
	})
	sc := redis.NewSentinelClient(&redis.Options{Addr: sentinel.addr, Password: sentinelPassword})
	t.Cleanup(func() { _ = sc.Close() })
	testkit.Eventually(t, 30*time.Second, func() bool { return sentinelHasGoodReplica(sc, masterName, replica.port) },
		"the Sentinel does not list the replica %s as a healthy replica", replica.addr)

	n := natskit.StartNATS(t)
	fired := recordFirings(t, n.JS)
	cfg := loadTestConfig(t, map[string]string{
		"NATS_URL": n.URL, "REDIS_SENTINEL_ADDRS": sentinel.addr, "REDIS_SENTINEL_MASTER": masterName,
		"REDIS_PASSWORD": dataPassword, "REDIS_SENTINEL_PASSWORD": sentinelPassword,
		"ASYNQ_QUEUE": testkit.RandomName("expiration-test-"),
	})
	rdb, err := newRedis(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rdb.Close() })
	sched := expiry.NewScheduler(rdb, cfg.Queue)
	t.Cleanup(func() { _ = sched.Close() })
	worker := expiry.NewWorker(rdb, cfg.Queue, events.NewPublisher(n.As(t, "expiration")), testkit.Logger(t))
	if err := worker.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(worker.Shutdown)
	ctx := testkit.Context(t)

	// Before: the job is on the master, and replicated.
	before := newID()
	if err := sched.Schedule(ctx, before, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if task := taskOn(t, master, cfg.Queue, before); task == nil || task.State != asynq.TaskStateScheduled {
		t.Fatalf("job on the master = %+v, want scheduled", task)
	}
	testkit.Eventually(t, 10*time.Second, func() bool { return taskOn(t, replica, cfg.Queue, before) != nil },
		"the job did not reach the replica")

	if err := sc.Failover(ctx, masterName).Err(); err != nil {
		t.Fatalf("SENTINEL FAILOVER: %v", err)
	}
	testkit.Eventually(t, 30*time.Second, func() bool {
		addr, err := sc.GetMasterAddrByName(ctx, masterName).Result()
		return err == nil && addr[1] == strconv.Itoa(replica.port)
	}, "the Sentinel does not report the former replica %s as master", replica.addr)
	if role := info(t, replica, "replication", "role"); role != "master" {
		t.Fatalf("former replica's role %q after the failover, want master", role)
	}
	// The Sentinel turns the former master into a replica of the new one
	// about ten seconds after the switch. Until then it still takes writes
	// (from a client that missed the +switch-master); after it, the failover
	// is over.
	waitReplicatesFrom(t, master, replica.port)

	// After: the same client schedules on the new master, which kept the
	// first job, and the worker runs the new one.
	after := newID()
	if err := sched.Schedule(ctx, after, time.Now().Add(200*time.Millisecond)); err != nil {
		t.Fatalf("schedule after the failover: %v", err)
	}
	if taskOn(t, replica, cfg.Queue, after) == nil {
		t.Fatal("the job scheduled after the failover is not on the new master")
	}
	if task := taskOn(t, replica, cfg.Queue, before); task == nil || task.State != asynq.TaskStateScheduled {
		t.Fatalf("job scheduled before the failover, on the new master = %+v, want scheduled", task)
	}
	fired.waitFor(t, after, 30*time.Second)
	testkit.Eventually(t, 10*time.Second, func() bool {
		task := taskOn(t, replica, cfg.Queue, after)
		return task != nil && task.State == asynq.TaskStateCompleted
	}, "the job scheduled after the failover is not completed on the new master")
	if got := fired.of(before); len(got) != 0 {
		t.Fatalf("the job due in an hour fired: %+v", got)
	}
}

// loadTestConfig is loadConfig of env, which must be valid.
func loadTestConfig(t *testing.T, env map[string]string) Config {
	t.Helper()
	r := config.New(func(k string) (string, bool) {
		v, ok := env[k]
		return v, ok
	})
	cfg := loadConfig(r)
	if err := r.Err(); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// redisNode is a redis-server process of this test (data node or Sentinel)
// and a plain client to it.
type redisNode struct {
	port int
	addr string
	rdb  *redis.Client
}

// startRedisNode starts redis-server with args(port, dir) on a free
// loopback port and waits until that very process answers there. Picked
// ports can be taken meanwhile (the process then exits), so it tries up to
// three. The process's log (dir/redis.log) is printed if the test fails.
func startRedisNode(t *testing.T, bin, role, password string, args func(port int, dir string) []string) *redisNode {
	t.Helper()
	for attempt := 1; ; attempt++ {
		dir := t.TempDir()
		port := testkit.FreePort(t)
		cmd := exec.Command(bin, args(port, dir)...)
		cmd.Dir = dir
		if err := testkit.Spawn(cmd); err != nil {
			t.Fatalf("start %s redis-server: %v", role, err)
		}
		exited := make(chan struct{})
		go func() {
			_ = cmd.Wait()
			close(exited)
		}()
		t.Cleanup(func() {
			_ = cmd.Process.Kill()
			<-exited
		})
		logFile := filepath.Join(dir, "redis.log")
		t.Cleanup(func() {
			if t.Failed() {
				b, _ := os.ReadFile(logFile)
				t.Logf("%s redis-server log (port %d):\n%s", role, port, b)
			}
		})
		addr := "127.0.0.1:" + strconv.Itoa(port)
		node := &redisNode{port: port, addr: addr, rdb: redis.NewClient(&redis.Options{Addr: addr, Password: password})}
		t.Cleanup(func() { _ = node.rdb.Close() })

		pid := strconv.Itoa(cmd.Process.Pid)
		ours := false
		testkit.Eventually(t, 30*time.Second, func() bool {
			select {
			case <-exited:
				return true
			default:
			}
			ours = infoField(node.rdb, "server", "process_id") == pid
			return ours
		}, "%s redis-server on %s does not answer", role, addr)
		if ours {
			return node
		}
		if attempt == 3 {
			t.Fatalf("%s redis-server exited at start three times", role)
		}
		t.Logf("%s redis-server exited at start (port %d taken?); trying another port", role, port)
	}
}

// waitReplicatesFrom waits until node is a replica of the master on
// masterPort with its link up.
func waitReplicatesFrom(t *testing.T, node *redisNode, masterPort int) {
	t.Helper()
	testkit.Eventually(t, 60*time.Second, func() bool {
		out := infoText(node.rdb, "replication")
		return field(out, "role") == "slave" && field(out, "master_port") == strconv.Itoa(masterPort) &&
			field(out, "master_link_status") == "up"
	}, "%s does not replicate from port %d", node.addr, masterPort)
}

// sentinelHasGoodReplica tells whether the Sentinel lists the replica on
// port as one it could promote: seen, up, and in sync with the master.
func sentinelHasGoodReplica(sc *redis.SentinelClient, master string, port int) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	replicas, err := sc.Replicas(ctx, master).Result()
	if err != nil {
		return false
	}
	for _, r := range replicas {
		if r["port"] == strconv.Itoa(port) && r["flags"] == "slave" && r["master-link-status"] == "ok" {
			return true
		}
	}
	return false
}

// taskOn reads the job of orderID straight from node (nil when it is not
// there).
func taskOn(t *testing.T, node *redisNode, queue, orderID string) *asynq.TaskInfo {
	t.Helper()
	task, err := asynq.NewInspectorFromRedisClient(node.rdb).GetTaskInfo(queue, orderID)
	if errors.Is(err, asynq.ErrTaskNotFound) || errors.Is(err, asynq.ErrQueueNotFound) {
		return nil
	}
	if err != nil {
		t.Fatalf("job %s on %s: %v", orderID, node.addr, err)
	}
	return task
}

// info returns one field of an INFO section of node.
func info(t *testing.T, node *redisNode, section, name string) string {
	t.Helper()
	out := infoText(node.rdb, section)
	if out == "" {
		t.Fatalf("INFO %s on %s failed", section, node.addr)
	}
	return field(out, name)
}

// infoField returns one field of an INFO section, "" when it cannot be read.
func infoField(rdb *redis.Client, section, name string) string {
	return field(infoText(rdb, section), name)
}

func infoText(rdb *redis.Client, section string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	out, err := rdb.Info(ctx, section).Result()
	if err != nil {
		return ""
	}
	return out
}

// field finds "name:value" in INFO's output.
func field(info, name string) string {
	for line := range strings.Lines(info) {
		if v, ok := strings.CutPrefix(strings.TrimRight(line, "\r\n"), name+":"); ok {
			return v
		}
	}
	return ""
}
