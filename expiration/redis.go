package main

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"
)

// newRedis returns the client for cfg (no round trip: it connects lazily).
//
// With Sentinels it is go-redis's failover client: each new connection asks
// a Sentinel for the current master, and a +switch-master from the Sentinel
// (or a READONLY answer from a demoted master) drops the connections to the
// old one, so the one client (scheduler, worker and health check share it)
// follows a failover without a restart.
func newRedis(cfg Config) (redis.UniversalClient, error) {
	if cfg.RedisSentinelAddrs == "" {
		opts, err := redis.ParseURL(cfg.RedisURL)
		if err != nil {
			return nil, fmt.Errorf("REDIS_URL: %w", err)
		}
		if cfg.RedisPassword != "" {
			opts.Password = cfg.RedisPassword
		}
		return redis.NewClient(opts), nil
	}
	addrs, err := parseSentinelAddrs(cfg.RedisSentinelAddrs)
	if err != nil {
		return nil, fmt.Errorf("REDIS_SENTINEL_ADDRS: %w", err)
	}
	if cfg.RedisSentinelMaster == "" {
		return nil, errors.New("REDIS_SENTINEL_MASTER is required with REDIS_SENTINEL_ADDRS")
	}
	return redis.NewFailoverClient(&redis.FailoverOptions{
		MasterName:       cfg.RedisSentinelMaster,
		SentinelAddrs:    addrs,
		SentinelPassword: cfg.RedisSentinelPassword,
		Password:         cfg.RedisPassword,
	}), nil
}

// parseSentinelAddrs splits a comma-separated list of host:port, each with
// a host and a port in 1–65535, none listed twice. Blanks around entries are
// dropped; an empty entry is an error.
func parseSentinelAddrs(list string) ([]string, error) {
	var addrs []string
	seen := map[string]bool{}
	for entry := range strings.SplitSeq(list, ",") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			return nil, errors.New("empty entry")
		}
		host, port, err := net.SplitHostPort(entry)
		if err != nil {
			return nil, fmt.Errorf("entry %q: %w", entry, err)
		}
		if host == "" {
			return nil, fmt.Errorf("entry %q has no host", entry)
		}
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return nil, fmt.Errorf("entry %q: port must be an integer between 1 and 65535", entry)
		}
		addr := net.JoinHostPort(host, port)
		if seen[addr] {
			return nil, fmt.Errorf("entry %q is listed twice", entry)
		}
		seen[addr] = true
		addrs = append(addrs, addr)
	}
	return addrs, nil
}
