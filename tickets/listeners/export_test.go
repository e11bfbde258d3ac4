package listeners

import (
	"context"
	"log/slog"

	"ticketing.dev/common/events"
	"ticketing.dev/tickets/store"
)

// The points at which handlers pause, for tests that interleave them.
const (
	PointCreatedChecked   = pointCreatedChecked
	PointCreatedReserved  = pointCreatedReserved
	PointCancelledMarked  = pointCancelledMarked
	PointCancelledRelease = pointCancelledRelease
)

// Handlers returns the order.created and order.cancelled handlers as Start wires them, for tests that call
// them directly; pause (nil: never) is called at each point.
func Handlers(st *store.Store, log *slog.Logger, pause func(point string)) (
	created func(context.Context, events.Msg[events.OrderCreatedData]) error,
	cancelled func(context.Context, events.Msg[events.OrderCancelledData]) error,
) {
	h := handlers{store: st, log: log, pause: pause}
	return h.orderCreated, h.orderCancelled
}
