package supervisor

import (
	"bytes"
	"io"
	"sync"
)

// Output writes the lines of several components to one stream, each line
// prefixed with its component's name ("[auth] ...") and written whole, so
// lines of different components never interleave mid-line.
type Output struct {
	mu  sync.Mutex
	dst io.Writer
}

// NewOutput writes to dst.
func NewOutput(dst io.Writer) *Output { return &Output{dst: dst} }

// Writer returns a writer whose lines are prefixed with [name]. Close it to
// flush a last line without a newline.
func (o *Output) Writer(name string) io.WriteCloser {
	return &lineWriter{out: o, prefix: []byte("[" + name + "] ")}
}

func (o *Output) writeLine(prefix, line []byte) {
	o.mu.Lock()
	defer o.mu.Unlock()
	buf := make([]byte, 0, len(prefix)+len(line)+1)
	buf = append(append(append(buf, prefix...), line...), '\n')
	_, _ = o.dst.Write(buf)
}

type lineWriter struct {
	out    *Output
	prefix []byte
	mu     sync.Mutex
	buf    []byte
}

// maxLine bounds a line kept in memory while waiting for its newline.
const maxLine = 64 << 10

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			if len(w.buf) >= maxLine {
				w.out.writeLine(w.prefix, w.buf)
				w.buf = w.buf[:0]
			}
			return len(p), nil
		}
		w.out.writeLine(w.prefix, bytes.TrimSuffix(w.buf[:i], []byte("\r")))
		w.buf = w.buf[i+1:]
	}
}

func (w *lineWriter) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.buf) > 0 {
		w.out.writeLine(w.prefix, w.buf)
		w.buf = nil
	}
	return nil
}
