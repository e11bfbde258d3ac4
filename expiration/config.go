package main

import (
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"

	"ticketing.dev/common/config"
	"ticketing.dev/common/service"
)

// name is the service's name, in its logs and traces.
const name = "expiration"

// Config is the expiration service's configuration, from the environment.
// Redis is one server (RedisURL) or a master found through Sentinels
// (RedisSentinelAddrs and RedisSentinelMaster), never both; newRedis makes
// the client.
type Config struct {
	Port    int
	NATSURL string
	// RedisURL is REDIS_URL (or built from REDIS_HOST and REDIS_PORT);
	// empty when Redis is behind Sentinels.
	RedisURL string
	// RedisSentinelAddrs is REDIS_SENTINEL_ADDRS, validated: host:port
	// entries joined by commas, blanks removed (a string, not a slice, so
	// that Config stays comparable).
	RedisSentinelAddrs  string
	RedisSentinelMaster string // REDIS_SENTINEL_MASTER, the name the Sentinels monitor
	// RedisPassword (REDIS_PASSWORD, secret) is the data nodes' password;
	// with REDIS_URL it is the one for a URL that carries none.
	RedisPassword string
	// RedisSentinelPassword (REDIS_SENTINEL_PASSWORD, secret) is the
	// Sentinels' own (their requirepass), if they have one.
	RedisSentinelPassword string
	Queue                 string // asynq queue; separate names keep deployments (and tests) apart on one Redis
}

func loadConfig(r *config.Reader) Config {
	c := Config{
		Port:    r.Int("PORT", 3000, 1, 65535),
		NATSURL: r.Required("NATS_URL"),
	}
	loadRedis(r, &c)
	c.Queue = r.String("ASYNQ_QUEUE", "expiration")
	return c
}

// loadRedis reads where Redis is: REDIS_URL (or REDIS_HOST and REDIS_PORT),
// or REDIS_SENTINEL_ADDRS with REDIS_SENTINEL_MASTER; exactly one of the two.
func loadRedis(r *config.Reader, c *Config) {
	sentinels := r.String("REDIS_SENTINEL_ADDRS", "")
	master := r.String("REDIS_SENTINEL_MASTER", "")
	c.RedisPassword = r.OptionalSecret("REDIS_PASSWORD")
	sentinelPassword := r.OptionalSecret("REDIS_SENTINEL_PASSWORD")

	if sentinels == "" {
		if master != "" {
			r.Problem("REDIS_SENTINEL_MASTER is set without REDIS_SENTINEL_ADDRS: set both, or neither")
		}
		if sentinelPassword != "" {
			r.Problem("REDIS_SENTINEL_PASSWORD is set without REDIS_SENTINEL_ADDRS: set both, or neither")
		}
		c.RedisURL = redisURL(r)
		if c.RedisURL == "" {
			return
		}
		opts, err := redis.ParseURL(c.RedisURL)
		switch {
		case err != nil:
			r.Problem("REDIS_URL: %v", err)
		case opts.Password != "" && c.RedisPassword != "":
			r.Problem("REDIS_PASSWORD is set and REDIS_URL carries a password too: keep one")
		}
		return
	}

	// REDIS_PORT alone is not a conflict: Kubernetes sets it (tcp://…) in
	// every pod of a namespace with a Service named redis.
	for _, direct := range []string{"REDIS_URL", "REDIS_HOST"} {
		if r.String(direct, "") != "" {
			r.Problem("%s and REDIS_SENTINEL_ADDRS are both set: set exactly one (REDIS_URL for one Redis, "+
				"REDIS_SENTINEL_ADDRS for Redis behind Sentinels)", direct)
		}
	}
	addrs, err := parseSentinelAddrs(sentinels)
	if err != nil {
		r.Problem("REDIS_SENTINEL_ADDRS must be a comma-separated list of host:port, got %q: %v", sentinels, err)
	} else {
		c.RedisSentinelAddrs = strings.Join(addrs, ",")
	}
	if master == "" {
		r.Problem("REDIS_SENTINEL_MASTER is required with REDIS_SENTINEL_ADDRS (the master name the Sentinels monitor)")
	}
	c.RedisSentinelMaster = master
	c.RedisSentinelPassword = sentinelPassword
}

// redisURL reads REDIS_URL, or builds it from REDIS_HOST and REDIS_PORT.
// With neither, the error names REDIS_URL, the preferred form.
func redisURL(r *config.Reader) string {
	if url := r.String("REDIS_URL", ""); url != "" {
		return url
	}
	host := r.String("REDIS_HOST", "")
	port := r.Int("REDIS_PORT", 0, 1, 65535)
	switch {
	case host == "" && port == 0:
		r.Problem("REDIS_URL is required (or REDIS_SENTINEL_ADDRS with REDIS_SENTINEL_MASTER for Redis behind Sentinels)")
		return ""
	case host == "":
		return r.Required("REDIS_HOST")
	case port == 0:
		return r.Required("REDIS_PORT")
	}
	return "redis://" + host + ":" + strconv.Itoa(port)
}

// Needs is what the service connects to at start-up.
func (c Config) Needs() service.Needs { return service.Needs{NATSURL: c.NATSURL} }

// Addr is where the HTTP server listens.
func (c Config) Addr() string { return ":" + strconv.Itoa(c.Port) }
