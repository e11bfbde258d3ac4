package stores

import (
	"errors"
	mrand "math/rand/v2"
	"net"
	"strconv"
)

// Ports are chosen below Linux's ephemeral range (32768–60999): a port
// found free there can still be taken, before the process that is to
// listen on it starts, by the local end of any outgoing connection.
const portLow, portHigh = 20000, 32768

// FreePort returns a 127.0.0.1 port that was free a moment ago.
func FreePort() (int, error) {
	for range 100 {
		port := portLow + mrand.IntN(portHigh-portLow)
		ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err == nil {
			_ = ln.Close()
			return port, nil
		}
	}
	return 0, errors.New("no free port found between 20000 and 32767")
}
