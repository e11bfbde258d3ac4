package store_test

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"

	"ticketing.dev/auth/store"
	"ticketing.dev/testkit"
	"ticketing.dev/testkit/mongokit"
)

func TestUsers(t *testing.T) {
	t.Parallel()
	ctx := testkit.Context(t)
	users := store.NewUsers(mongokit.Mongo(t))
	if err := users.EnsureIndexes(ctx); err != nil {
		t.Fatal(err)
	}
	if err := users.EnsureIndexes(ctx); err != nil {
		t.Fatalf("EnsureIndexes is not idempotent: %v", err)
	}

	created, err := users.Create(ctx, "a@example.com", "hash")
	if err != nil {
		t.Fatal(err)
	}
	got, found, err := users.ByEmail(ctx, "a@example.com")
	if err != nil || !found {
		t.Fatalf("ByEmail: found=%v err=%v", found, err)
	}
	if got.ID != created.ID || got.Email != "a@example.com" || got.PasswordHash != "hash" {
		t.Fatalf("ByEmail = %+v, want %+v", got, created)
	}
	if _, found, err := users.ByEmail(ctx, "nobody@example.com"); err != nil || found {
		t.Fatalf("ByEmail(unknown): found=%v err=%v", found, err)
	}
	if _, err := users.Create(ctx, "a@example.com", "other"); !errors.Is(err, store.ErrEmailInUse) {
		t.Fatalf("second Create: err = %v, want ErrEmailInUse", err)
	}
}

func TestConcurrentCreatesOfOneEmailStoreOneUser(t *testing.T) {
	t.Parallel()
	ctx := testkit.Context(t)
	users := store.NewUsers(mongokit.Mongo(t))
	if err := users.EnsureIndexes(ctx); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var ok, inUse atomic.Int32
	for range 20 {
		wg.Go(func() {
			_, err := users.Create(ctx, "race@example.com", "hash")
			switch {
			case err == nil:
				ok.Add(1)
			case errors.Is(err, store.ErrEmailInUse):
				inUse.Add(1)
			default:
				t.Errorf("Create: %v", err)
			}
		})
	}
	wg.Wait()
	if ok.Load() != 1 || inUse.Load() != 19 {
		t.Fatalf("created %d, in use %d; want 1 and 19", ok.Load(), inUse.Load())
	}
}
