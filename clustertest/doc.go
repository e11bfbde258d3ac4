// Package clustertest proves what the platform promises beyond one server,
// with real parts on this machine: three clustered nats-servers in one
// process on loopback, the real tickets and orders HTTP APIs, listeners and
// outbox relays, and their stores. It holds tests only (go test ./clustertest/...).
package clustertest
