// Package listeners turns order events into expiration jobs.
package listeners

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"ticketing.dev/common/events"
	"ticketing.dev/expiration/expiry"
)

// QueueGroup names the service's durable consumers.
const QueueGroup = "expiration-service"

// retryRedis keeps an event through a Redis outage of about an hour before
// the failure bound dead-letters it (orders' own sweep expires the order
// meanwhile).
var retryRedis = events.ListenerOptions{MaxFailures: 120, MaxBackoff: 30 * time.Second}

// Start listens to order.created (schedule the order's expiration) and
// order.cancelled (drop it); stopping the group drains them.
func Start(ctx context.Context, js jetstream.JetStream, log *slog.Logger, sched *expiry.Scheduler) (*events.Group, error) {
	g := events.NewGroup(js, log, QueueGroup)
	err := errors.Join(
		events.Subscribe(ctx, g, events.OrderCreated,
			func(ctx context.Context, m events.Msg[events.OrderCreatedData]) error {
				if m.Data.ID == "" || m.Data.ExpiresAt.IsZero() {
					return events.Malformed(errors.New("order.created without id or expiresAt"))
				}
				return sched.Schedule(ctx, m.Data.ID, m.Data.ExpiresAt)
			}, retryRedis),
		events.Subscribe(ctx, g, events.OrderCancelled,
			func(_ context.Context, m events.Msg[events.OrderCancelledData]) error {
				if m.Data.ID == "" {
					return events.Malformed(errors.New("order.cancelled without id"))
				}
				return sched.Cancel(m.Data.ID)
			}, retryRedis),
	)
	if err != nil {
		g.Stop()
		return nil, err
	}
	return g, nil
}
