package events

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// DeadLetterStream keeps the events a listener gave up on, with why, until
// an operator replays or deletes them. Its subjects are dlq.<durable>.
const DeadLetterStream = "TICKETING_DLQ"

// Headers of a dead letter; the event's own headers (traceparent, …) are
// kept as they were.
const (
	HeaderDLQSubject    = "Ticketing-Dlq-Subject"
	HeaderDLQDurable    = "Ticketing-Dlq-Durable"
	HeaderDLQReason     = "Ticketing-Dlq-Reason"
	HeaderDLQDeliveries = "Ticketing-Dlq-Deliveries"
	HeaderDLQStreamSeq  = "Ticketing-Dlq-Stream-Seq"
	HeaderDLQMsgID      = "Ticketing-Dlq-Msg-Id"
	HeaderDLQPublished  = "Ticketing-Dlq-Published"
	// HeaderPublished rides on a replayed event: when the event was first
	// published, so that its age survives any number of replays.
	HeaderPublished = "Ticketing-Published"
)

// deadLetters counts the events this process dead-lettered (in the logs as
// dead_letters_total).
var deadLetters atomic.Int64

func deadLetterSubject(durable string) string { return "dlq." + durable }

// ensureDeadLetterStream creates or updates the dead-letter stream with at
// least replicas copies.
func ensureDeadLetterStream(ctx context.Context, js jetstream.JetStream, replicas int) error {
	return ensure(ctx, js, jetstream.StreamConfig{
		Name:        DeadLetterStream,
		Description: "events listeners gave up on; list and replay them with the dlq command",
		Subjects:    []string{"dlq.>"},
		Retention:   jetstream.LimitsPolicy,
		Storage:     jetstream.FileStorage,
		MaxBytes:    1 << 30,
		Duplicates:  DuplicateWindow,
	}, replicas)
}

// publishDeadLetter stores a copy of m in the dead-letter stream and waits
// for the stream to confirm it. A repeat for the same event and durable is
// dropped by the stream (its Nats-Msg-Id is derived from both).
func publishDeadLetter(ctx context.Context, js jetstream.JetStream, m jetstream.Msg, meta *jetstream.MsgMetadata,
	durable, reason string) error {
	dl := nats.NewMsg(deadLetterSubject(durable))
	dl.Data = m.Data()
	for k, vs := range m.Headers() {
		if !strings.HasPrefix(k, "Nats-") {
			dl.Header[k] = vs
		}
	}
	dl.Header.Set(HeaderDLQSubject, m.Subject())
	dl.Header.Set(HeaderDLQDurable, durable)
	dl.Header.Set(HeaderDLQReason, reason)
	dl.Header.Set(HeaderDLQDeliveries, strconv.FormatUint(meta.NumDelivered, 10))
	dl.Header.Set(HeaderDLQStreamSeq, strconv.FormatUint(meta.Sequence.Stream, 10))
	dl.Header.Set(HeaderDLQMsgID, m.Headers().Get(nats.MsgIdHdr))
	dl.Header.Set(HeaderDLQPublished, firstPublished(m.Headers(), meta.Timestamp).Format(time.RFC3339Nano))
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	// Unique per stored event and consumer, even after the event stream was
	// recreated and its sequences started again.
	id := fmt.Sprintf("dlq-%s-%d-%d", durable, meta.Sequence.Stream, meta.Timestamp.UnixNano())
	_, err := js.PublishMsg(ctx, dl, jetstream.WithMsgID(id), jetstream.WithExpectStream(DeadLetterStream))
	if err != nil {
		return fmt.Errorf("dead-letter %s seq %d: %w", m.Subject(), meta.Sequence.Stream, err)
	}
	return nil
}

// firstPublished is when an event was first published: its own header if
// it is a replay, else the time the stream stored it.
func firstPublished(h nats.Header, stored time.Time) time.Time {
	if t, err := time.Parse(time.RFC3339Nano, h.Get(HeaderPublished)); err == nil {
		return t.UTC()
	}
	return stored.UTC()
}

// DeadLetter is one event a listener gave up on.
type DeadLetter struct {
	Seq        uint64    // its sequence in the dead-letter stream
	At         time.Time // when it was dead-lettered
	Subject    string    // the event's subject
	Durable    string    // the consumer that gave up
	Reason     string
	Deliveries uint64
	StreamSeq  uint64    // its sequence in the event stream
	MsgID      string    // its Nats-Msg-Id
	Published  time.Time // when it was first published
	Data       []byte
	Header     nats.Header
}

func deadLetterFrom(raw *jetstream.RawStreamMsg) DeadLetter {
	h := raw.Header
	dl := DeadLetter{
		Seq: raw.Sequence, At: raw.Time, Data: raw.Data, Header: h,
		Subject: h.Get(HeaderDLQSubject), Durable: h.Get(HeaderDLQDurable), Reason: h.Get(HeaderDLQReason),
		MsgID: h.Get(HeaderDLQMsgID),
	}
	dl.Deliveries, _ = strconv.ParseUint(h.Get(HeaderDLQDeliveries), 10, 64)
	dl.StreamSeq, _ = strconv.ParseUint(h.Get(HeaderDLQStreamSeq), 10, 64)
	dl.Published, _ = time.Parse(time.RFC3339Nano, h.Get(HeaderDLQPublished))
	return dl
}

// ListDeadLetters returns every dead letter, oldest first.
func ListDeadLetters(ctx context.Context, js jetstream.JetStream) ([]DeadLetter, error) {
	s, err := js.Stream(ctx, DeadLetterStream)
	if err != nil {
		return nil, fmt.Errorf("stream %s: %w", DeadLetterStream, err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		return nil, err
	}
	var out []DeadLetter
	if info.State.Msgs == 0 {
		return out, nil
	}
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq; seq++ {
		raw, err := s.GetMsg(ctx, seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue // replayed or deleted
		}
		if err != nil {
			return out, fmt.Errorf("dead letter %d: %w", seq, err)
		}
		out = append(out, deadLetterFrom(raw))
	}
	return out, nil
}

// ReplayDeadLetter publishes the dead letter seq again on its subject (every
// consumer of the subject gets it; handlers are idempotent) and then removes
// it from the dead-letter stream. It carries a new Nats-Msg-Id derived from
// the old one and seq, so the stream does not drop it as a duplicate of the
// original, and a repeated replay of the same dead letter is stored once.
// An event older than MaxAge is refused.
func ReplayDeadLetter(ctx context.Context, js jetstream.JetStream, seq uint64) (DeadLetter, error) {
	s, err := js.Stream(ctx, DeadLetterStream)
	if err != nil {
		return DeadLetter{}, fmt.Errorf("stream %s: %w", DeadLetterStream, err)
	}
	raw, err := s.GetMsg(ctx, seq)
	if err != nil {
		return DeadLetter{}, fmt.Errorf("dead letter %d: %w", seq, err)
	}
	dl := deadLetterFrom(raw)
	if dl.Subject == "" {
		return dl, fmt.Errorf("dead letter %d has no %s header", seq, HeaderDLQSubject)
	}
	if age := time.Since(dl.Published); age > MaxAge {
		return dl, fmt.Errorf("dead letter %d was published %s ago, longer than the stream keeps events (%s): "+
			"services no longer guard against it, so it is not replayed", seq, age.Round(time.Hour), MaxAge)
	}
	msg := nats.NewMsg(dl.Subject)
	msg.Data = dl.Data
	for k, vs := range dl.Header {
		if !strings.HasPrefix(k, "Ticketing-Dlq-") && !strings.HasPrefix(k, "Nats-") {
			msg.Header[k] = vs
		}
	}
	msg.Header.Set(HeaderPublished, dl.Published.UTC().Format(time.RFC3339Nano))
	id := fmt.Sprintf("%s-replay-%d", dl.MsgID, seq)
	if _, err := js.PublishMsg(ctx, msg, jetstream.WithMsgID(id), jetstream.WithExpectStream(StreamName)); err != nil {
		return dl, fmt.Errorf("replay dead letter %d on %s: %w", seq, dl.Subject, err)
	}
	if err := s.DeleteMsg(ctx, seq); err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
		return dl, fmt.Errorf("replayed dead letter %d, but could not remove it: %w", seq, err)
	}
	return dl, nil
}
