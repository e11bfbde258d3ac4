package traceui

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"sync"
	"time"
)

// MaxExport bounds one OTLP/HTTP request (the collector's own default limit
// is 20 MiB; the services' batches are far smaller).
const MaxExport = 16 << 20

// Intake is the OTLP/HTTP endpoint the services export to
// (OTEL_EXPORTER_OTLP_ENDPOINT=http://<its address>): each request is
// passed on to Jaeger's OTLP/HTTP receiver, and its answer returned. While
// there is no Jaeger to pass it to (not built yet, restarting, or its build
// failed), the request is held, up to a total of Hold bytes (the oldest
// dropped first), and answered as accepted: the services' exporters never
// fail or log, and the held spans reach Jaeger once it answers, so a
// purchase made during Jaeger's first build is still one trace.
type Intake struct {
	// Hold bounds the bytes held while Jaeger is away (New: 32 MiB).
	Hold int

	client *http.Client

	mu       sync.Mutex
	target   string // Jaeger's receiver, host:port; "" until SetTarget
	held     []export
	heldSize int
	dropped  int
	flushing bool
}

type export struct {
	path, contentType, encoding string
	body                        []byte
}

// NewIntake returns an intake with no Jaeger yet: everything is held.
func NewIntake() *Intake {
	return &Intake{Hold: 32 << 20, client: &http.Client{Timeout: 10 * time.Second}}
}

// SetTarget points the intake at Jaeger's OTLP/HTTP receiver (host:port)
// and sends it what was held.
func (in *Intake) SetTarget(addr string) {
	in.mu.Lock()
	in.target = addr
	in.mu.Unlock()
	in.flush()
}

// Held tells how many requests are held and how many were dropped because
// Hold was full.
func (in *Intake) Held() (held, dropped int) {
	in.mu.Lock()
	defer in.mu.Unlock()
	return len(in.held), in.dropped
}

func (in *Intake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		http.Error(w, "OTLP/HTTP: POST only", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxExport))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			http.Error(w, "request too large", http.StatusRequestEntityTooLarge)
			return
		}
		http.Error(w, "cannot read the request", http.StatusBadRequest)
		return
	}
	e := export{path: r.URL.Path, contentType: r.Header.Get("Content-Type"), encoding: r.Header.Get("Content-Encoding"), body: body}
	in.mu.Lock()
	target := in.target
	in.mu.Unlock()
	if target != "" {
		res, err := in.send(r.Context(), target, e)
		if err == nil {
			defer res.Body.Close()
			for _, k := range []string{"Content-Type", "Content-Encoding", "Retry-After"} {
				if v := res.Header.Get(k); v != "" {
					w.Header().Set(k, v)
				}
			}
			w.WriteHeader(res.StatusCode)
			_, _ = io.Copy(w, res.Body)
			if res.StatusCode < 300 {
				in.flush() // Jaeger is back: what was held follows
			}
			return
		}
		// Jaeger is not answering (restarting): hold it, as before it came.
	}
	in.hold(e)
	accepted(w, e.contentType)
}

// accepted answers an export as fully accepted: an empty
// ExportTraceServiceResponse, in the request's encoding.
func accepted(w http.ResponseWriter, contentType string) {
	if contentType == "application/json" {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		_, _ = io.WriteString(w, "{}")
		return
	}
	w.Header().Set("Content-Type", "application/x-protobuf")
	w.WriteHeader(http.StatusOK)
}

func (in *Intake) send(ctx context.Context, target string, e export) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+target+e.path, bytes.NewReader(e.body))
	if err != nil {
		return nil, err
	}
	if e.contentType != "" {
		req.Header.Set("Content-Type", e.contentType)
	}
	if e.encoding != "" {
		req.Header.Set("Content-Encoding", e.encoding)
	}
	return in.client.Do(req)
}

func (in *Intake) hold(e export) {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.held = append(in.held, e)
	in.heldSize += len(e.body)
	for in.heldSize > in.Hold && len(in.held) > 0 {
		in.heldSize -= len(in.held[0].body)
		in.held[0] = export{}
		in.held = in.held[1:]
		in.dropped++
	}
}

// flush sends the held requests, oldest first, in the background; one that
// Jaeger does not take (not answering, or a 5xx) stays held with those after
// it.
func (in *Intake) flush() {
	in.mu.Lock()
	if in.flushing || in.target == "" || len(in.held) == 0 {
		in.mu.Unlock()
		return
	}
	in.flushing = true
	in.mu.Unlock()
	go func() {
		defer func() {
			in.mu.Lock()
			in.flushing = false
			in.mu.Unlock()
		}()
		for {
			in.mu.Lock()
			if len(in.held) == 0 {
				in.mu.Unlock()
				return
			}
			e, target := in.held[0], in.target
			in.mu.Unlock()
			res, err := in.send(context.Background(), target, e)
			if err != nil {
				return
			}
			_, _ = io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode >= 500 {
				return
			}
			// Sent (or refused as malformed, which no retry mends).
			in.mu.Lock()
			if len(in.held) > 0 && sameExport(in.held[0], e) {
				in.heldSize -= len(e.body)
				in.held[0] = export{}
				in.held = in.held[1:]
			}
			in.mu.Unlock()
		}
	}()
}

// sameExport tells whether a is b (the same body slice): hold may have
// dropped b while it was being sent.
func sameExport(a, b export) bool {
	return len(a.body) == len(b.body) && (len(a.body) == 0 || &a.body[0] == &b.body[0])
}
