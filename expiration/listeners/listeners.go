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

// Set is the running listeners of the service.
type Set struct{ listeners []*events.Listener }

// Start listens for order.created (schedule the order's expiration) and
// order.cancelled (drop it).
func Start(ctx context.Context, js jetstream.JetStream, log *slog.Logger, sched *expiry.Scheduler) (*Set, error) {
	created, err := events.Listen(ctx, js, log, events.OrderCreated,
		events.Durable(QueueGroup, events.OrderCreated.Subject),
		func(ctx context.Context, m events.Msg[events.OrderCreatedData]) error {
			if m.Data.ID == "" || m.Data.ExpiresAt.IsZero() {
				return events.Malformed(errors.New("order.created without id or expiresAt"))
			}
			return sched.Schedule(ctx, m.Data.ID, m.Data.ExpiresAt)
		}, retryRedis)
	if err != nil {
		return nil, err
	}
	cancelled, err := events.Listen(ctx, js, log, events.OrderCancelled,
		events.Durable(QueueGroup, events.OrderCancelled.Subject),
		func(_ context.Context, m events.Msg[events.OrderCancelledData]) error {
			if m.Data.ID == "" {
				return events.Malformed(errors.New("order.cancelled without id"))
			}
			return sched.Cancel(m.Data.ID)
		}, retryRedis)
	if err != nil {
		created.Stop()
		return nil, err
	}
	return &Set{listeners: []*events.Listener{created, cancelled}}, nil
}

// Stop stops taking events and lets the ones in hand finish.
func (s *Set) Stop() {
	events.StopAll(s.listeners...)
}
