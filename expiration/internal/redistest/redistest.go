// Package redistest gives a test a Redis client (testkit.RedisURL) and an
// asynq queue name of its own, and removes the queue's keys afterwards so
// that a shared REDIS_URL keeps nothing.
package redistest

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"ticketing.dev/testkit"
)

// Queue returns a client and a fresh queue name.
func Queue(t testing.TB) (*redis.Client, string) {
	t.Helper()
	opts, err := redis.ParseURL(testkit.RedisURL(t))
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opts)
	queue := testkit.RandomName("expiration-test-")
	t.Cleanup(func() {
		forget(rdb, queue)
		_ = rdb.Close()
	})
	return rdb, queue
}

// forget deletes every key of the queue. asynq's own DeleteQueue leaves
// completed jobs and daily counters behind.
func forget(rdb *redis.Client, queue string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	iter := rdb.Scan(ctx, 0, "asynq:{"+queue+"}:*", 200).Iterator()
	for iter.Next(ctx) {
		_ = rdb.Del(ctx, iter.Val()).Err()
	}
	_ = rdb.SRem(ctx, "asynq:queues", queue).Err()
}
