package password

import (
	"context"
	"strings"
	"syscall"
	"testing"
)

func TestHashAndVerify(t *testing.T) {
	t.Parallel()
	h, err := New(OWASP, 2)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	encoded, err := h.Hash(ctx, "s3cret")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(encoded, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("encoded hash %q does not carry the OWASP parameters", encoded)
	}
	again, err := h.Hash(ctx, "s3cret")
	if err != nil {
		t.Fatal(err)
	}
	if again == encoded {
		t.Fatal("two hashes of one password are equal: the salt is not random")
	}

	for _, tc := range []struct {
		name  string
		plain string
		want  bool
	}{
		{"right password", "s3cret", true},
		{"wrong password", "s3cret!", false},
		{"empty password", "", false},
		{"different case", "S3CRET", false},
	} {
		ok, err := h.Verify(ctx, encoded, tc.plain)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if ok != tc.want {
			t.Errorf("%s: Verify = %v, want %v", tc.name, ok, tc.want)
		}
	}
	if err := h.VerifyDummy(ctx, "s3cret"); err != nil {
		t.Fatal(err)
	}
}

func TestVerifyUsesTheStoredParameters(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cheap, err := New(Params{MemoryKiB: 64, Time: 1, Threads: 1, SaltLen: 8, KeyLen: 16}, 1)
	if err != nil {
		t.Fatal(err)
	}
	encoded, err := cheap.Hash(ctx, "pw")
	if err != nil {
		t.Fatal(err)
	}
	strong, err := New(OWASP, 1)
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := strong.Verify(ctx, encoded, "pw"); err != nil || !ok {
		t.Fatalf("a hash made with other parameters does not verify: %v, %v", ok, err)
	}
}

func TestVerifyRejectsMalformedHashes(t *testing.T) {
	t.Parallel()
	h, err := New(Params{MemoryKiB: 64, Time: 1, Threads: 1, SaltLen: 8, KeyLen: 16}, 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, encoded := range []string{
		"",
		"plain",
		"$2a$10$abcdefghijklmnopqrstuu5VQnDv6TNtd8dLkbyRo/nSi3nXn0zTHi", // bcrypt
		"$argon2i$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5",
		"$argon2id$v=16$m=64,t=1,p=1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5",
		"$argon2id$v=19$m=64,t=0,p=1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5",
		"$argon2id$v=19$m=64,t=1,p=1$!!!$a2V5a2V5a2V5a2V5",
		"$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$",
	} {
		if ok, err := h.Verify(context.Background(), encoded, "pw"); err == nil || ok {
			t.Errorf("Verify(%q) = %v, %v; want an error", encoded, ok, err)
		}
	}
}

func TestHashGivesUpWhenTheContextEnds(t *testing.T) {
	t.Parallel()
	h, err := New(Params{MemoryKiB: 64, Time: 1, Threads: 1, SaltLen: 8, KeyLen: 16}, 1)
	if err != nil {
		t.Fatal(err)
	}
	h.slots <- struct{}{} // every slot busy
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := h.Hash(ctx, "pw"); err == nil {
		t.Fatal("Hash waited for a slot after its context ended")
	}
}

func BenchmarkHash(b *testing.B) {
	h, err := New(OWASP, 1)
	if err != nil {
		b.Fatal(err)
	}
	var before, after syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &before)
	for b.Loop() {
		if _, err := h.Hash(context.Background(), "s3cret-pass"); err != nil {
			b.Fatal(err)
		}
	}
	// CPU time, unlike wall time, hardly depends on what else the machine runs.
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &after)
	cpu := after.Utime.Nano() + after.Stime.Nano() - before.Utime.Nano() - before.Stime.Nano()
	b.ReportMetric(float64(cpu)/float64(b.N), "cpu-ns/op")
}
