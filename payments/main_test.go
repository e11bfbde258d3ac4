package main

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"ticketing.dev/common/config"
	"ticketing.dev/common/events"
	"ticketing.dev/common/service"
	"ticketing.dev/payments/internal/paytest"
	"ticketing.dev/payments/store"
	"ticketing.dev/testkit"
	"ticketing.dev/testkit/mongokit"
	"ticketing.dev/testkit/natskit"
)

func TestMain(m *testing.M) { paytest.Main(m) }

func TestConfigNamesEveryMissingVariable(t *testing.T) {
	for _, name := range []string{"MONGO_URI", "NATS_URL", "JWT_KEY", "STRIPE_KEY", "STRIPE_API_BASE"} {
		t.Setenv(name, "")
	}
	err := service.Run(context.Background(), testkit.Logger(t), name, loadConfig, run)
	if err == nil {
		t.Fatal("run without configuration succeeded")
	}
	for _, want := range []string{"MONGO_URI is required", "NATS_URL is required", "JWT_KEY is required", "STRIPE_KEY is required"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q does not say %q", err, want)
		}
	}
}

func TestConfigRejectsABadSweepInterval(t *testing.T) {
	t.Setenv("PAYMENTS_SWEEP", "soon")
	r := config.FromEnv()
	loadConfig(r)
	if err := r.Err(); err == nil || !strings.Contains(err.Error(), "PAYMENTS_SWEEP") {
		t.Fatalf("config error %v does not name PAYMENTS_SWEEP", err)
	}
}

func TestConfigMasksSecrets(t *testing.T) {
	t.Setenv("STRIPE_KEY", "sk_test_secret")
	t.Setenv("JWT_KEY", testkit.JWTKey)
	r := config.FromEnv()
	loadConfig(r)
	for name, v := range r.Describe() {
		if strings.Contains(v, "secret") {
			t.Errorf("%s logged as %q", name, v)
		}
	}
}

// TestRun boots the service as main does, pays for an order over HTTP, and
// sees its sweep resume the claim a crashed process left behind.
func TestRun(t *testing.T) {
	n := natskit.StartNATS(t)
	mongoURI, err := url.Parse(mongokit.MongoURI(t))
	if err != nil {
		t.Fatal(err)
	}
	dbName := testkit.RandomName("payments_")
	mongoURI.Path = "/" + dbName
	t.Cleanup(func() {
		client, err := mongo.Connect(options.Client().ApplyURI(mongoURI.String()))
		if err == nil {
			_ = client.Database(dbName).Drop(context.Background())
			_ = client.Disconnect(context.Background())
		}
	})
	// Stopped (and checked for a clean exit) before the database is dropped.
	svc := testkit.Serve(t, name, loadConfig, run, natskit.WithEnv(name, map[string]string{
		"MONGO_URI": mongoURI.String(), "NATS_URL": n.URL, "JWT_KEY": testkit.JWTKey,
		"STRIPE_KEY": "sk_test_123", "STRIPE_API_BASE": testkit.StripeMockURL(t),
		"OUTBOX_SWEEP": "100ms", "PAYMENTS_SWEEP": "100ms",
	}))
	base := svc.URL

	paid := natskit.Record(t, n.JS, events.PaymentCreated)
	orderID := bson.NewObjectID()
	if err := events.Publish(context.Background(), events.NewPublisher(n.JS), events.OrderCreated, "order-created-"+orderID.Hex(),
		events.OrderCreatedData{ID: orderID.Hex(), Status: events.StatusCreated, UserID: "u1",
			ExpiresAt: time.Now().Add(time.Minute), Ticket: events.OrderTicket{ID: bson.NewObjectID().Hex(), Price: 1999}}); err != nil {
		t.Fatal(err)
	}
	cookie := testkit.SessionCookie(t, "u1", "u1@example.com")
	body := `{"token":"tok_visa","orderId":"` + orderID.Hex() + `"}`
	var status int
	testkit.Eventually(t, 10*time.Second, func() bool {
		req, _ := http.NewRequest(http.MethodPost, base+"/api/payments", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.AddCookie(cookie)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			return false
		}
		_ = res.Body.Close()
		status = res.StatusCode
		return status != http.StatusNotFound // the replica may lag a moment
	}, "order reaches the replica")
	if status != http.StatusCreated {
		t.Fatalf("pay: %d", status)
	}
	if got := paid.WaitFor(t, 1, 10*time.Second); got[0].Data.OrderID != orderID.Hex() {
		t.Fatalf("payment.created %+v", got[0].Data)
	}

	// A process that died mid-charge left a claim whose lease ran out.
	client, err := mongo.Connect(options.Client().ApplyURI(mongoURI.String()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Disconnect(context.Background()) })
	st := store.New(client.Database(dbName))
	crashed := bson.NewObjectID()
	if err := events.Publish(context.Background(), events.NewPublisher(n.JS), events.OrderCreated, "order-created-"+crashed.Hex(),
		events.OrderCreatedData{ID: crashed.Hex(), Status: events.StatusCreated, UserID: "u1",
			ExpiresAt: time.Now().Add(time.Minute), Ticket: events.OrderTicket{ID: bson.NewObjectID().Hex(), Price: 500}}); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 10*time.Second, func() bool {
		_, err := st.Order(context.Background(), crashed)
		return err == nil
	}, "order reaches the replica")
	if _, _, err := st.Claim(context.Background(), store.Claim{OrderID: crashed, UserID: "u1", Amount: 500, Token: "tok_visa",
		Now: time.Now().Add(-time.Minute), Lease: time.Second}); err != nil {
		t.Fatal(err)
	}
	if got := paid.WaitFor(t, 2, 10*time.Second); got[1].Data.OrderID != crashed.Hex() {
		t.Fatalf("payment.created %+v, want the resumed payment of %s", got[1].Data, crashed.Hex())
	}
}
