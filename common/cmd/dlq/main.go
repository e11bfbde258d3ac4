// Command dlq lists the events that listeners gave up on (the dead-letter
// stream TICKETING_DLQ) and replays them into their subjects.
//
//	dlq [-nats URL] list [-json]
//	dlq [-nats URL] replay SEQ...
//	dlq [-nats URL] replay -all [-durable NAME]
//
// The NATS URL defaults to $NATS_URL, then nats://127.0.0.1:4222. The
// admin's credentials come in the URL (nats://admin:PASSWORD@host:port, as
// devstack.json has it) or in NATS_USER and NATS_PASSWORD.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"ticketing.dev/common/events"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "dlq:", err)
		os.Exit(1)
	}
}

const usage = `usage:
  dlq [-nats URL] list [-json]
  dlq [-nats URL] replay SEQ...
  dlq [-nats URL] replay -all [-durable NAME]`

func run(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("dlq", flag.ContinueOnError)
	url := fs.String("nats", envOr("NATS_URL", nats.DefaultURL), "NATS server URL")
	fs.Usage = func() { fmt.Fprintln(fs.Output(), usage) }
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return errors.New(usage)
	}
	// The admin's credentials: in the URL (devstack.json has them), or
	// NATS_USER and NATS_PASSWORD (Kubernetes: the nats-users Secret).
	opts := append([]nats.Option{nats.Name("dlq"), nats.Timeout(5 * time.Second)},
		events.UserOptions(os.Getenv("NATS_USER"), os.Getenv("NATS_PASSWORD"))...)
	nc, err := nats.Connect(*url, opts...)
	if err != nil {
		return fmt.Errorf("nats at %s: %w", *url, err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()

	switch cmd, rest := fs.Arg(0), fs.Args()[1:]; cmd {
	case "list":
		return list(ctx, js, rest, out)
	case "replay":
		return replay(ctx, js, rest, out)
	default:
		return fmt.Errorf("unknown command %q\n%s", cmd, usage)
	}
}

func list(ctx context.Context, js jetstream.JetStream, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("list", flag.ContinueOnError)
	asJSON := fs.Bool("json", false, "one JSON object per line, with the payload")
	if err := fs.Parse(args); err != nil {
		return err
	}
	letters, err := events.ListDeadLetters(ctx, js)
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(out)
		for _, dl := range letters {
			if err := enc.Encode(map[string]any{
				"seq": dl.Seq, "at": dl.At, "subject": dl.Subject, "durable": dl.Durable, "reason": dl.Reason,
				"deliveries": dl.Deliveries, "streamSeq": dl.StreamSeq, "msgId": dl.MsgID,
				"published": dl.Published, "data": json.RawMessage(validJSON(dl.Data)),
			}); err != nil {
				return err
			}
		}
		return nil
	}
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "SEQ\tAT\tSUBJECT\tDURABLE\tDELIVERIES\tMSG ID\tREASON")
	for _, dl := range letters {
		fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%d\t%s\t%s\n", dl.Seq, dl.At.UTC().Format(time.RFC3339), dl.Subject,
			dl.Durable, dl.Deliveries, dl.MsgID, dl.Reason)
	}
	if err := w.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(out, "%d dead letter(s)\n", len(letters))
	return nil
}

func replay(ctx context.Context, js jetstream.JetStream, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("replay", flag.ContinueOnError)
	all := fs.Bool("all", false, "replay every dead letter")
	durable := fs.String("durable", "", "with -all: only those of this consumer")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var seqs []uint64
	switch {
	case *all && fs.NArg() > 0, !*all && fs.NArg() == 0:
		return errors.New("replay takes SEQ... or -all")
	case *all:
		letters, err := events.ListDeadLetters(ctx, js)
		if err != nil {
			return err
		}
		for _, dl := range letters {
			if *durable == "" || dl.Durable == *durable {
				seqs = append(seqs, dl.Seq)
			}
		}
	default:
		for _, a := range fs.Args() {
			seq, err := strconv.ParseUint(a, 10, 64)
			if err != nil {
				return fmt.Errorf("sequence %q is not a number", a)
			}
			seqs = append(seqs, seq)
		}
	}
	var errs []error
	for _, seq := range seqs {
		dl, err := events.ReplayDeadLetter(ctx, js, seq)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		fmt.Fprintf(out, "replayed %d: %s %s (was %s)\n", seq, dl.Subject, dl.MsgID, dl.Durable)
	}
	fmt.Fprintf(out, "%d of %d replayed\n", len(seqs)-len(errs), len(seqs))
	return errors.Join(errs...)
}

func validJSON(b []byte) []byte {
	if json.Valid(b) {
		return b
	}
	q, _ := json.Marshal(string(b))
	return q
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
