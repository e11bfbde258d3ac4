package events

import (
	"fmt"
	"slices"
	"strings"

	"github.com/nats-io/nats.go"
)

// Access is what one service does on the broker: the topics it publishes
// (its outbox relay) and the subjects its listeners consume. Everything a
// NATS user may do is derived from it (Permissions).
type Access struct {
	Publishes []string // subjects of the events it owns
	Listens   []string // subjects its listeners consume, one durable each
	Follows   []string // subjects every replica reads whole (Follow)
}

// Services is the one permission table: every service that talks to NATS,
// by its user name (also its name in service.Main, and "<name>-service" its
// listeners' queue group). A listener whose subject is not in Listens is
// refused by Subscribe before it reaches the broker, which would refuse it
// too; publishing a subject not in Publishes is refused by the broker.
var Services = map[string]Access{
	"auth": {
		Publishes: subjects(SessionRevoked),
		Follows:   subjects(SessionRevoked),
	},
	"tickets": {
		Publishes: subjects(TicketCreated, TicketUpdated),
		Listens:   subjects(OrderCreated, OrderCancelled, OrderCompleted),
		Follows:   subjects(SessionRevoked),
	},
	"orders": {
		Publishes: subjects(OrderCreated, OrderCancelled, OrderCompleted),
		Listens:   subjects(TicketCreated, TicketUpdated, ExpirationComplete, PaymentCreated),
		Follows:   subjects(SessionRevoked),
	},
	"payments": {
		Publishes: subjects(PaymentCreated),
		Listens:   subjects(OrderCreated, OrderCompleted, OrderCancelled),
		Follows:   subjects(SessionRevoked),
	},
	"expiration": {
		Publishes: subjects(ExpirationComplete),
		Listens:   subjects(OrderCreated, OrderCancelled),
	},
}

// AdminUser is the operator's user (the dlq command, tests' own
// connections): no restriction.
const AdminUser = "admin"

// subjectOf is any Topic's subject.
type subjectOf interface{ subject() string }

func (t Topic[T]) subject() string { return t.Subject }

func subjects(topics ...subjectOf) []string {
	out := make([]string, len(topics))
	for i, t := range topics {
		out[i] = t.subject()
	}
	return out
}

// QueueGroup is the queue group of a service's listeners ("tickets" gives
// "tickets-service"), from which their durables are named.
func QueueGroup(service string) string { return service + "-service" }

// serviceOfQueueGroup is the service whose queue group qg is ("" if none).
func serviceOfQueueGroup(qg string) string {
	name, ok := strings.CutSuffix(qg, "-service")
	if _, known := Services[name]; ok && known {
		return name
	}
	return ""
}

// Durables are the durable consumers of a service's listeners.
func (a Access) Durables(service string) []string {
	out := make([]string, len(a.Listens))
	for i, s := range a.Listens {
		out[i] = Durable(QueueGroup(service), s)
	}
	return out
}

// InboxPrefix is where a service's requests get their replies
// (_INBOX.<service>.…): each user may subscribe to its own inboxes only,
// so no service reads another's JetStream answers (its events among them).
func InboxPrefix(service string) string { return "_INBOX." + service }

// Permission is what one NATS user may publish and subscribe to.
type Permission struct {
	Publish   []string
	Subscribe []string
}

// Permissions derives a service's least privilege from its Access:
//   - publish its events, and dlq.<durable> for each of its listeners;
//   - the JetStream API its connection's keeper uses (stream info, create
//     and update of TICKETING, SESSIONS and TICKETING_DLQ), and for each
//     durable: consumer create and info, next message, and the acks
//     ($JS.ACK.TICKETING.<durable>.>, which also carry naks, progress and
//     terms);
//   - for each followed subject, the ordered consumers of its stream
//     (SESSIONS: create, info, next message, delete), whose names are
//     generated, so any consumer of that stream, and no other;
//   - subscribe to its own reply inboxes only.
func Permissions(service string) (Permission, error) {
	a, ok := Services[service]
	if !ok {
		return Permission{}, fmt.Errorf("no NATS permissions for %q", service)
	}
	pub := slices.Clone(a.Publishes)
	for _, stream := range []string{StreamName, SessionStream, DeadLetterStream} {
		for _, op := range []string{"INFO", "CREATE", "UPDATE"} {
			pub = append(pub, "$JS.API.STREAM."+op+"."+stream)
		}
	}
	for _, d := range a.Durables(service) {
		pub = append(pub,
			deadLetterSubject(d),
			"$JS.API.CONSUMER.CREATE."+StreamName+"."+d+".>",
			"$JS.API.CONSUMER.INFO."+StreamName+"."+d,
			"$JS.API.CONSUMER.MSG.NEXT."+StreamName+"."+d,
			"$JS.ACK."+StreamName+"."+d+".>",
		)
	}
	for _, subject := range a.Follows {
		stream := StreamOf(subject)
		if stream == StreamName {
			// Any consumer of the event stream would be any durable's.
			return Permission{}, fmt.Errorf("%s follows %s, which is not on a stream of its own", service, subject)
		}
		pub = append(pub,
			"$JS.API.CONSUMER.CREATE."+stream+".>",
			"$JS.API.CONSUMER.INFO."+stream+".*",
			"$JS.API.CONSUMER.MSG.NEXT."+stream+".*",
			"$JS.API.CONSUMER.DELETE."+stream+".*",
		)
	}
	slices.Sort(pub)
	return Permission{Publish: slices.Compact(pub), Subscribe: []string{InboxPrefix(service) + ".>"}}, nil
}

// UserOptions are the nats.go options of a connection as user: its
// credentials and, for a service, its own inbox prefix (InboxPrefix), the
// only replies its permissions let it read. No user: no option.
func UserOptions(user, password string) []nats.Option {
	if user == "" {
		return nil
	}
	opts := []nats.Option{nats.UserInfo(user, password)}
	if _, ok := Services[user]; ok {
		opts = append(opts, nats.CustomInboxPrefix(InboxPrefix(user)))
	}
	return opts
}
