package main

import (
	"net/http"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"ticketing.dev/devstack/runfile"
)

// scrape reads one /metrics page into its families.
func scrape(t *testing.T, addr string) map[string]*dto.MetricFamily {
	t.Helper()
	client := &http.Client{Timeout: 10 * time.Second}
	res, err := client.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatalf("scraping %s: %v", addr, err)
	}
	defer res.Body.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(res.Body)
	if err != nil {
		t.Fatalf("metrics of %s do not parse: %v", addr, err)
	}
	return families
}

// value sums the samples of a family whose labels include every label given
// (name=value pairs); a histogram counts its observations.
func value(families map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	var sum float64
	for _, m := range families[name].GetMetric() {
		have := map[string]string{}
		for _, l := range m.GetLabel() {
			have[l.GetName()] = l.GetValue()
		}
		match := true
		for _, pair := range labels {
			k, v, _ := strings.Cut(pair, "=")
			match = match && have[k] == v
		}
		if !match {
			continue
		}
		switch {
		case m.Counter != nil:
			sum += m.GetCounter().GetValue()
		case m.Gauge != nil:
			sum += m.GetGauge().GetValue()
		case m.Histogram != nil:
			sum += float64(m.GetHistogram().GetSampleCount())
		}
	}
	return sum
}

// checkMetrics scrapes every service's /metrics (the addresses devstack.json
// lists) after a purchase and an expiry, and checks that the counters of
// each part of the flow moved.
func checkMetrics(t *testing.T, dataDir string) {
	t.Helper()
	state, err := runfile.ReadState(dataDir)
	if err != nil {
		t.Fatal(err)
	}
	type want struct {
		name   string
		labels []string
	}
	wants := map[string][]want{
		"auth": {{"http_requests_total", []string{"route=/api/users/signup", "code=201"}}},
		"tickets": {
			{"http_requests_total", []string{"route=/api/tickets", "method=POST", "code=201"}},
			{"events_handled_total", []string{"durable=tickets-service-order-created", "outcome=handled"}},
			{"events_handled_total", []string{"durable=tickets-service-order-cancelled", "outcome=handled"}},
		},
		"orders": {
			{"http_requests_total", []string{"route=/api/orders", "method=POST", "code=201"}},
			{"events_handled_total", []string{"durable=orders-service-ticket-created", "outcome=handled"}},
			{"events_handled_total", []string{"durable=orders-service-payment-created", "outcome=handled"}},
			{"events_handled_total", []string{"durable=orders-service-expiration-complete", "outcome=handled"}},
			{"http_request_duration_seconds", []string{"route=/api/orders/{id}"}},
		},
		"payments": {
			{"http_requests_total", []string{"route=/api/payments", "code=201"}},
			{"stripe_requests_total", []string{"operation=charge", "outcome=ok"}},
			{"events_handled_total", []string{"durable=payments-service-order-created", "outcome=handled"}},
		},
		"expiration": {
			{"events_handled_total", []string{"durable=expiration-service-order-created", "outcome=handled"}},
			{"expiration_lateness_seconds", nil},
		},
	}
	for svc, ws := range wants {
		addr, ok := state.Metrics[svc]
		if !ok {
			t.Errorf("devstack.json lists no metrics address for %s: %v", svc, state.Metrics)
			continue
		}
		families := scrape(t, addr)
		for _, w := range ws {
			if v := value(families, w.name, w.labels...); v < 1 {
				t.Errorf("%s at %s: %s%v is %v after the flow, want ≥ 1", svc, addr, w.name, w.labels, v)
			}
		}
		if svc != "auth" {
			if _, ok := families["events_consumer_pending"]; !ok {
				t.Errorf("%s reports no consumer lag", svc)
			}
		}
		if _, ok := families["go_goroutines"]; !ok {
			t.Errorf("%s lacks the Go runtime's metrics", svc)
		}
	}

}
