package httpapi_test

import (
	"net/http"
	"strconv"
	"sync/atomic"
	"testing"
)

// The argon2id hash dominates both routes; with -cpu 1 the inverse of ns/op
// is the requests per second one core serves.

func BenchmarkSignup(b *testing.B) {
	svc := newService(b, options{})
	i := 0
	for b.Loop() {
		i++
		res := svc.do(b, http.MethodPost, "/api/users/signup", credentials("bench"+strconv.Itoa(i)+"@example.com", "secret"))
		if res.StatusCode != http.StatusCreated {
			b.Fatalf("%d %s", res.StatusCode, res.body)
		}
	}
}

func BenchmarkSignin(b *testing.B) {
	svc := newService(b, options{})
	svc.signup(b, "bench@example.com", "secret")
	body := credentials("bench@example.com", "secret")
	for b.Loop() {
		res := svc.do(b, http.MethodPost, "/api/users/signin", body)
		if res.StatusCode != http.StatusOK {
			b.Fatalf("%d %s", res.StatusCode, res.body)
		}
	}
}

// BenchmarkSigninParallel shows how sign-in scales over GOMAXPROCS cores.
func BenchmarkSigninParallel(b *testing.B) {
	svc := newService(b, options{})
	const users = 16
	for i := range users {
		svc.signup(b, "bench"+strconv.Itoa(i)+"@example.com", "secret")
	}
	var n atomic.Int64
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1) % users
			res := svc.do(b, http.MethodPost, "/api/users/signin", credentials("bench"+strconv.FormatInt(i, 10)+"@example.com", "secret"))
			if res.StatusCode != http.StatusOK {
				b.Errorf("%d %s", res.StatusCode, res.body)
				return
			}
		}
	})
}
