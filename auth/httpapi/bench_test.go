package httpapi_test

import (
	"net/http"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"ticketing.dev/testkit"
)

// The argon2id hash dominates both routes. Wall time per request depends on
// whatever else the machine runs; cpu-ns/op (the process's user and system
// CPU time per request, the embedded FerretDB's included) does much less, and
// 1e9 / cpu-ns/op is the requests per second one core serves.

// reportCPU adds the cpu-ns/op metric; call it right after the timed loop.
func reportCPU(b *testing.B, start time.Duration) {
	b.ReportMetric(float64(cpuTime()-start)/float64(b.N), "cpu-ns/op")
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func BenchmarkSignup(b *testing.B) {
	svc := newService(b, options{})
	i := 0
	start := cpuTime()
	for b.Loop() {
		i++
		res := testkit.Call(b, svc.handler, http.MethodPost, "/api/users/signup", credentials("bench"+strconv.Itoa(i)+"@example.com", "secret"))
		if res.Status != http.StatusCreated {
			b.Fatalf("%d %s", res.Status, res.Body)
		}
	}
	reportCPU(b, start)
}

func BenchmarkSignin(b *testing.B) {
	svc := newService(b, options{})
	svc.signup(b, "bench@example.com", "secret")
	body := credentials("bench@example.com", "secret")
	start := cpuTime()
	for b.Loop() {
		res := testkit.Call(b, svc.handler, http.MethodPost, "/api/users/signin", body)
		if res.Status != http.StatusOK {
			b.Fatalf("%d %s", res.Status, res.Body)
		}
	}
	reportCPU(b, start)
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
	start := cpuTime()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1) % users
			res := testkit.Call(b, svc.handler, http.MethodPost, "/api/users/signin", credentials("bench"+strconv.FormatInt(i, 10)+"@example.com", "secret"))
			if res.Status != http.StatusOK {
				b.Errorf("%d %s", res.Status, res.Body)
				return
			}
		}
	})
	reportCPU(b, start)
}
