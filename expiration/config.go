package main

import (
	"strconv"

	"github.com/redis/go-redis/v9"

	"ticketing.dev/common/config"
	"ticketing.dev/common/service"
)

// name is the service's name, in its logs and traces.
const name = "expiration"

// Config is the expiration service's configuration, from the environment.
type Config struct {
	Port     int
	NATSURL  string
	RedisURL string
	Queue    string // asynq queue; separate names keep deployments (and tests) apart on one Redis
}

func loadConfig(r *config.Reader) Config {
	c := Config{
		Port:     r.Int("PORT", 3000, 1, 65535),
		NATSURL:  r.Required("NATS_URL"),
		RedisURL: redisURL(r),
		Queue:    r.String("ASYNQ_QUEUE", "expiration"),
	}
	if c.RedisURL != "" {
		if _, err := redis.ParseURL(c.RedisURL); err != nil {
			r.Problem("REDIS_URL: %v", err)
		}
	}
	return c
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
		return r.Required("REDIS_URL")
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
