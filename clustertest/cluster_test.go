package clustertest_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"

	"ticketing.dev/common/events"
	"ticketing.dev/common/natsauth"
	"ticketing.dev/testkit"
	"ticketing.dev/testkit/natskit"
)

// cluster is a JetStream cluster of nats-servers in this process, each on
// its own loopback client and route ports with its own store directory, so
// that a node can be shut down and started again as it was.
type cluster struct {
	t       *testing.T
	names   []string
	opts    []func() *server.Options
	servers []*server.Server
}

func startCluster(t *testing.T, size int) *cluster {
	t.Helper()
	c := &cluster{t: t, servers: make([]*server.Server, size)}
	clientPorts, routePorts, routes := make([]int, size), make([]int, size), make([]string, size)
	for i := range size {
		clientPorts[i], routePorts[i] = testkit.FreePort(t), testkit.FreePort(t)
		routes[i] = fmt.Sprintf("nats://127.0.0.1:%d", routePorts[i])
	}
	for i := range size {
		name, dir := fmt.Sprintf("n%d", i+1), t.TempDir()
		c.names = append(c.names, name)
		// Every node lists every route, itself included (it skips its own).
		c.opts = append(c.opts, func() *server.Options {
			return &server.Options{
				ServerName: name, Host: "127.0.0.1", Port: clientPorts[i],
				JetStream: true, StoreDir: dir, NoLog: true, NoSigs: true,
				Cluster: server.ClusterOpts{Name: "ticketing", Host: "127.0.0.1", Port: routePorts[i]},
				Routes:  server.RoutesFromStr(strings.Join(routes, ",")),
				// The permission table's users, as in Kubernetes (routes
				// unauthenticated there too).
				Users: natsauth.Users(natskit.Password),
			}
		})
	}
	for i := range size {
		c.start(i)
	}
	t.Cleanup(func() {
		for _, s := range c.servers {
			if s != nil {
				s.Shutdown()
			}
		}
	})
	return c
}

// start starts node i (again: same name, ports and store).
func (c *cluster) start(i int) {
	c.t.Helper()
	s, err := server.NewServer(c.opts[i]())
	if err != nil {
		c.t.Fatal(err)
	}
	s.Start()
	if !s.ReadyForConnections(20 * time.Second) {
		c.t.Fatalf("nats-server %s did not start", c.names[i])
	}
	c.servers[i] = s
}

// stop shuts node i down.
func (c *cluster) stop(i int) {
	c.servers[i].Shutdown()
	c.servers[i].WaitForShutdown()
	c.servers[i] = nil
}

// urls lists every node's client URL, as the services are given them.
func (c *cluster) urls() string {
	var urls []string
	for i := range c.opts {
		urls = append(urls, fmt.Sprintf("nats://127.0.0.1:%d", c.opts[i]().Port))
	}
	return strings.Join(urls, ",")
}

func (c *cluster) index(name string) int {
	for i, n := range c.names {
		if n == name {
			return i
		}
	}
	c.t.Fatalf("no node %q", name)
	return -1
}

// streamInfo is the event stream's info, or nil while no leader answers.
func streamInfo(ctx context.Context, js jetstream.JetStream) *jetstream.StreamInfo {
	ictx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	s, err := js.Stream(ictx, events.StreamName)
	if err != nil {
		return nil
	}
	info, err := s.Info(ictx, jetstream.WithSubjectFilter(">"))
	if err != nil || info.Cluster == nil {
		return nil
	}
	return info
}

// storedOn is the number of events node i holds in its own copy of the
// event stream, as the node itself reports it.
func (c *cluster) storedOn(i int) (uint64, bool) {
	jsz, err := c.servers[i].Jsz(&server.JSzOptions{Accounts: true, Streams: true})
	if err != nil {
		return 0, false
	}
	for _, acc := range jsz.AccountDetails {
		for _, s := range acc.Streams {
			if s.Name == events.StreamName {
				return s.State.Msgs, true
			}
		}
	}
	return 0, false
}
