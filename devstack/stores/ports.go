package stores

import (
	"errors"
	mrand "math/rand/v2"
	"net"
	"strconv"
	"sync"
)

// Ports are chosen below Linux's ephemeral range (32768–60999): a port
// found free there can still be taken, before the process that is to
// listen on it starts, by the local end of any outgoing connection.
const portLow, portHigh = 20000, 32768

// handedOut are the ports FreePort returned in this process: each was free
// when returned, and stays so until its process starts, so it could be
// returned again to the next caller (two replicas started at once).
var handedOut = struct {
	sync.Mutex
	ports map[int]bool
}{ports: map[int]bool{}}

// FreePort returns a 127.0.0.1 port that was free a moment ago and that it
// has not returned before.
func FreePort() (int, error) {
	handedOut.Lock()
	defer handedOut.Unlock()
	for range 100 {
		port := portLow + mrand.IntN(portHigh-portLow)
		if handedOut.ports[port] {
			continue
		}
		ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err == nil {
			_ = ln.Close()
			handedOut.ports[port] = true
			return port, nil
		}
	}
	return 0, errors.New("no free port found between 20000 and 32767")
}
