package mongokit

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// Front is a MongoDB wire-protocol proxy in front of an embedded FerretDB
// that makes every single-document update atomic, whatever the number of
// connections, as MongoDB's are.
//
// FerretDB 1.x applies an update (and findAndModify) by reading the
// document, changing it in Go and writing it back, with nothing stopping
// another connection in between: measured straight on FerretDB, 20 pooled
// clients' version-filtered updates of one document had 3 winners, and
// concurrent $inc lost increments. The front reads each request's command
// and lets one write at a time change a document, holding its lock until
// the reply is back: an update, delete or findAndModify whose filter pins
// the _id locks that document (writes of different documents run at once);
// any other write (and any command the front does not know) locks its
// whole database. Reads (find, aggregate without $out/$merge, getMore,
// count, hello, …) and inserts pass at once, concurrently with each other
// and with the writes. So clients use the driver's normal connection pool,
// as on MongoDB in Kubernetes, and an update's read and write can no longer
// interleave with another write of the same document.
//
// Each client connection gets one connection to FerretDB; requests and
// replies are copied unchanged, in order (a reply flagged moreToCome is
// followed by the next one, as with exhaust cursors).
type Front struct {
	ln               net.Listener
	network, backend string // FerretDB's address
	log              *slog.Logger

	locksMu sync.Mutex
	locks   map[string]*dbLocks // by database

	connsMu sync.Mutex
	conns   map[net.Conn]struct{}
	closed  bool
	wg      sync.WaitGroup

	countsMu sync.Mutex
	counts   map[Command]int
}

// Command is a kind of command a Front forwarded: its database, name and
// collection (empty for a command without one, such as hello).
type Command struct {
	DB, Name, Collection string
}

func (c Command) String() string {
	return strings.TrimSpace(c.Name + " " + c.Collection)
}

// Counts returns how many commands of each kind the Front forwarded (and
// FerretDB answered) since it started or since the last ResetCounts: a
// measure of a flow's cost that does not depend on the machine's load.
func (f *Front) Counts() map[Command]int {
	f.countsMu.Lock()
	defer f.countsMu.Unlock()
	return maps.Clone(f.counts)
}

// ResetCounts starts the counts afresh.
func (f *Front) ResetCounts() { f.takeCounts() }

// takeCounts returns the counts and starts them afresh, at once.
func (f *Front) takeCounts() map[Command]int {
	f.countsMu.Lock()
	defer f.countsMu.Unlock()
	out := f.counts
	f.counts = map[Command]int{}
	return out
}

func (f *Front) count(cmd command) {
	f.countsMu.Lock()
	f.counts[Command{DB: cmd.db, Name: cmd.name, Collection: cmd.coll}]++
	f.countsMu.Unlock()
}

// StartFront listens on addr (127.0.0.1:0 for a free port) and forwards to
// the FerretDB at network, backend ("unix" and a socket path, or "tcp" and
// host:port). log may be nil.
func StartFront(addr, network, backend string, log *slog.Logger) (*Front, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("mongodb front: %w", err)
	}
	f := &Front{ln: ln, network: network, backend: backend, log: log, locks: map[string]*dbLocks{}, conns: map[net.Conn]struct{}{},
		counts: map[Command]int{}}
	f.wg.Go(f.accept)
	return f, nil
}

// Addr is the address clients connect to.
func (f *Front) Addr() string { return f.ln.Addr().String() }

// Close stops listening, closes every connection and waits for them.
func (f *Front) Close() {
	f.connsMu.Lock()
	f.closed = true
	for c := range f.conns {
		_ = c.Close()
	}
	f.connsMu.Unlock()
	_ = f.ln.Close()
	f.wg.Wait()
}

func (f *Front) accept() {
	delay := 5 * time.Millisecond
	for {
		client, err := f.ln.Accept()
		if errors.Is(err, net.ErrClosed) {
			return
		}
		if err != nil { // out of file descriptors, say: wait and go on, as net/http does
			f.log.Warn("mongodb front: accept", "err", err, "retry_in", delay)
			time.Sleep(delay)
			delay = min(2*delay, time.Second)
			continue
		}
		delay = 5 * time.Millisecond
		if !f.track(client) {
			_ = client.Close()
			return
		}
		f.wg.Go(func() {
			defer f.untrack(client)
			backend, err := net.Dial(f.network, f.backend)
			if err != nil {
				f.log.Error("mongodb front: dial ferretdb", "err", err)
				return
			}
			if !f.track(backend) {
				_ = backend.Close()
				return
			}
			defer f.untrack(backend)
			if err := f.serve(client, backend); !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				f.log.Warn("mongodb front: connection ended", "err", err)
			}
		})
	}
}

func (f *Front) track(c net.Conn) bool {
	f.connsMu.Lock()
	defer f.connsMu.Unlock()
	if f.closed {
		return false
	}
	f.conns[c] = struct{}{}
	return true
}

func (f *Front) untrack(c net.Conn) {
	f.connsMu.Lock()
	delete(f.conns, c)
	f.connsMu.Unlock()
	_ = c.Close()
}

// serve copies one client's requests to FerretDB and the replies back, in
// lock step, holding the database's write lock around a write's round trip,
// until either side closes (io.EOF, net.ErrClosed) or fails.
func (f *Front) serve(client, backend net.Conn) error {
	fromClient, fromBackend := bufio.NewReader(client), bufio.NewReader(backend)
	for {
		req, err := readMessage(fromClient)
		if err != nil {
			return err
		}
		cmd := classify(req)
		if cmd.write {
			unlock := f.dbLocks(cmd.db).lock(cmd.docs)
			err = roundTrip(req, cmd, backend, fromBackend, client)
			unlock()
		} else {
			err = roundTrip(req, cmd, backend, fromBackend, client)
		}
		f.count(cmd) // once answered: a count seen means the command is done
		if err != nil {
			return err
		}
	}
}

// roundTrip sends one request and copies its replies until one that is not
// flagged moreToCome. A request flagged moreToCome (an unacknowledged
// write) expects no reply, but FerretDB 1.24 sends one anyway: it is read
// (so the write is done before its lock is released) and dropped, or it
// would answer the client's next request.
func roundTrip(req []byte, cmd command, backend net.Conn, fromBackend *bufio.Reader, client net.Conn) error {
	if _, err := backend.Write(req); err != nil {
		return err
	}
	if cmd.moreToCome {
		_, err := readMessage(fromBackend)
		return err
	}
	for {
		reply, err := readMessage(fromBackend)
		if err != nil {
			return err
		}
		if _, err := client.Write(reply); err != nil {
			return err
		}
		if !moreToCome(reply) {
			return nil
		}
	}
}

func (f *Front) dbLocks(db string) *dbLocks {
	f.locksMu.Lock()
	defer f.locksMu.Unlock()
	l, ok := f.locks[db]
	if !ok {
		l = &dbLocks{docs: map[string]*docLock{}}
		f.locks[db] = l
	}
	return l
}

// dbLocks are one database's write locks: a write that names the
// documents it may change (by _id) locks those documents, so writes of
// different documents run at once; any other write locks the whole
// database.
type dbLocks struct {
	all sync.RWMutex // held shared by document writes, exclusively by the others

	mu   sync.Mutex
	docs map[string]*docLock
}

type docLock struct {
	sync.Mutex
	refs int // writers holding or waiting for it; dropped at zero
}

// lock takes the locks for a write of docs (sorted keys; nil: the whole
// database) and returns their release.
func (l *dbLocks) lock(docs []string) (unlock func()) {
	if docs == nil {
		l.all.Lock()
		return l.all.Unlock
	}
	l.all.RLock()
	held := make([]*docLock, len(docs))
	for i, key := range docs { // in sorted order: two writers never wait for each other
		l.mu.Lock()
		d, ok := l.docs[key]
		if !ok {
			d = &docLock{}
			l.docs[key] = d
		}
		d.refs++
		l.mu.Unlock()
		d.Lock()
		held[i] = d
	}
	return func() {
		for i := len(held) - 1; i >= 0; i-- {
			held[i].Unlock()
			l.mu.Lock()
			if held[i].refs--; held[i].refs == 0 {
				delete(l.docs, docs[i])
			}
			l.mu.Unlock()
		}
		l.all.RUnlock()
	}
}

// The wire protocol: a 16-byte header (length, requestID, responseTo,
// opCode; little-endian int32s), then the body.
const (
	headerLen  = 16
	maxMessage = 48 << 20 // MongoDB's maxMessageSizeBytes
	opQuery    = 2004
	opMsg      = 2013

	flagChecksumPresent = 1 << 0
	flagMoreToCome      = 1 << 1
)

// readMessage reads one whole message, header included.
func readMessage(r *bufio.Reader) ([]byte, error) {
	var h [4]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return nil, err
	}
	n := int(int32(binary.LittleEndian.Uint32(h[:])))
	if n < headerLen || n > maxMessage {
		return nil, fmt.Errorf("mongodb front: message length %d out of range", n)
	}
	msg := make([]byte, n)
	copy(msg, h[:])
	if _, err := io.ReadFull(r, msg[4:]); err != nil {
		return nil, err
	}
	return msg, nil
}

func opCode(msg []byte) int32 { return int32(binary.LittleEndian.Uint32(msg[12:16])) }

func moreToCome(msg []byte) bool {
	return opCode(msg) == opMsg && len(msg) >= headerLen+4 &&
		binary.LittleEndian.Uint32(msg[headerLen:])&flagMoreToCome != 0
}

// command is what the front needs to know of a request.
type command struct {
	db, name, coll string // name and collection: only to count it
	write          bool
	// docs are the documents a write may change ("collection\x00_id"
	// keys, sorted, no repeats); nil: it may change any of the database.
	docs       []string
	moreToCome bool
}

// classify reads a request's command: OP_MSG (every command of current
// drivers) and OP_QUERY (the legacy handshake). Whatever it cannot read
// is a write on the empty database name's lock, so it is never let
// through beside another unreadable request.
func classify(msg []byte) command {
	unknown := command{write: true}
	body := msg[headerLen:]
	switch opCode(msg) {
	case opMsg:
		if len(body) < 4 {
			return unknown
		}
		flags := binary.LittleEndian.Uint32(body)
		cmd := command{moreToCome: flags&flagMoreToCome != 0}
		rest := body[4:]
		if flags&flagChecksumPresent != 0 && len(rest) >= 4 {
			rest = rest[:len(rest)-4] // the CRC-32C after the sections
		}
		doc, seqs, ok := sections(rest)
		if !ok {
			unknown.moreToCome = cmd.moreToCome
			return unknown
		}
		cmd.db, _ = doc.Lookup("$db").StringValueOK()
		cmd.name, cmd.coll = nameOf(doc)
		if cmd.write = needsLock(doc); cmd.write {
			cmd.docs = documents(doc, seqs)
		}
		return cmd
	case opQuery:
		// flags, fullCollectionName ("db.$cmd"), numberToSkip, numberToReturn, query
		if len(body) < 4 {
			return unknown
		}
		name, rest, ok := cstring(body[4:])
		if !ok || len(rest) < 8 {
			return unknown
		}
		doc, ok := document(rest[8:])
		if !ok {
			return unknown
		}
		db, _, _ := strings.Cut(name, ".")
		cmd := command{db: db, write: needsLock(doc)}
		cmd.name, cmd.coll = nameOf(doc)
		return cmd
	default:
		return unknown
	}
}

// nameOf returns a command's name (its first key) and the collection it
// names (its first value, or getMore's collection field), if any.
func nameOf(doc bson.Raw) (name, coll string) {
	first, err := doc.IndexErr(0)
	if err != nil {
		return "", ""
	}
	name = first.Key()
	coll, _ = first.Value().StringValueOK()
	if name == "getMore" {
		coll, _ = doc.Lookup("collection").StringValueOK()
	}
	return name, coll
}

// sections reads OP_MSG's sections: the kind-0 body (the command
// document) and the kind-1 document sequences by identifier (drivers send
// an update's statements as the sequence "updates").
func sections(b []byte) (body bson.Raw, seqs map[string][]bson.Raw, ok bool) {
	for len(b) > 0 {
		kind := b[0]
		b = b[1:]
		switch kind {
		case 0:
			if body, ok = document(b); !ok {
				return nil, nil, false
			}
			b = b[len(body):]
		case 1: // int32 size (itself included), identifier, documents
			if len(b) < 4 {
				return nil, nil, false
			}
			n := int(int32(binary.LittleEndian.Uint32(b)))
			if n < 4 || n > len(b) {
				return nil, nil, false
			}
			id, rest, ok := cstring(b[4:n])
			if !ok {
				return nil, nil, false
			}
			for len(rest) > 0 {
				d, ok := document(rest)
				if !ok {
					return nil, nil, false
				}
				if seqs == nil {
					seqs = map[string][]bson.Raw{}
				}
				seqs[id] = append(seqs[id], d)
				rest = rest[len(d):]
			}
			b = b[n:]
		default:
			return nil, nil, false
		}
	}
	return body, seqs, body != nil
}

// documents names the documents a write may change, from the _id its
// filters match exactly: update's and delete's statements (q) and
// findAndModify's query. nil when any filter does not pin one _id (or the
// command is another write): the write then locks the whole database.
func documents(cmd bson.Raw, seqs map[string][]bson.Raw) []string {
	first, err := cmd.IndexErr(0)
	if err != nil {
		return nil
	}
	coll, ok := first.Value().StringValueOK()
	if !ok {
		return nil
	}
	var filters []bson.Raw
	switch first.Key() {
	case "update", "delete":
		field := first.Key() + "s" // updates, deletes
		stmts := seqs[field]
		if arr, ok := cmd.Lookup(field).ArrayOK(); ok {
			vals, err := arr.Values()
			if err != nil {
				return nil
			}
			for _, v := range vals {
				d, ok := v.DocumentOK()
				if !ok {
					return nil
				}
				stmts = append(stmts, d)
			}
		}
		for _, st := range stmts {
			q, ok := st.Lookup("q").DocumentOK()
			if !ok {
				return nil
			}
			filters = append(filters, q)
		}
	case "findAndModify", "findandmodify":
		q, ok := cmd.Lookup("query").DocumentOK()
		if !ok {
			return nil
		}
		filters = append(filters, q)
	default:
		return nil
	}
	if len(filters) == 0 {
		return nil
	}
	keys := make([]string, 0, len(filters))
	for _, q := range filters {
		id, ok := idKey(q)
		if !ok {
			return nil
		}
		keys = append(keys, coll+"\x00"+id)
	}
	slices.Sort(keys)
	return slices.Compact(keys)
}

// idKey is the key of the one _id a filter matches by equality ({_id: v}
// or {_id: {$eq: v}}), with equal numbers of different types (1, 1.0,
// int64(1)) one key as MongoDB compares them.
func idKey(filter bson.Raw) (string, bool) {
	v := filter.Lookup("_id")
	if d, ok := v.DocumentOK(); ok {
		elems, err := d.Elements()
		if err != nil || len(elems) != 1 || elems[0].Key() != "$eq" {
			return "", false // an operator other than $eq, or a document _id
		}
		v = elems[0].Value()
		if _, ok := v.DocumentOK(); ok {
			return "", false
		}
	}
	switch v.Type {
	case bson.TypeInt32, bson.TypeInt64, bson.TypeDouble:
		f, _ := v.AsFloat64OK()
		if f != math.Trunc(f) || math.IsInf(f, 0) {
			return "", false
		}
		if f == 0 {
			f = 0 // -0.0 is 0 to MongoDB
		}
		return "n" + strconv.FormatFloat(f, 'f', -1, 64), true
	case bson.TypeString, bson.TypeObjectID, bson.TypeBoolean, bson.TypeDateTime, bson.TypeBinary:
		return string([]byte{byte(v.Type)}) + string(v.Value), true
	default:
		return "", false
	}
}

func document(b []byte) (bson.Raw, bool) {
	if len(b) < 5 {
		return nil, false
	}
	n := int(int32(binary.LittleEndian.Uint32(b)))
	if n < 5 || n > len(b) {
		return nil, false
	}
	doc := bson.Raw(b[:n])
	if doc.Validate() != nil {
		return nil, false
	}
	return doc, true
}

func cstring(b []byte) (string, []byte, bool) {
	for i, c := range b {
		if c == 0 {
			return string(b[:i]), b[i+1:], true
		}
	}
	return "", nil, false
}

// unlocked are the commands that never read a document to write it back:
// the reads, and insert (a new document; a unique index still refuses a
// duplicate). Every other command takes its database's write lock.
var unlocked = map[string]bool{
	"insert": true,
	"find":   true, "getMore": true, "killCursors": true, "count": true, "distinct": true,
	"listCollections": true, "listIndexes": true, "listDatabases": true, "explain": true,
	"hello": true, "isMaster": true, "ismaster": true, "ping": true, "buildInfo": true, "buildinfo": true,
	"getParameter": true, "getCmdLineOpts": true, "getLog": true, "hostInfo": true, "serverStatus": true,
	"dbStats": true, "collStats": true, "dataSize": true, "connectionStatus": true, "whatsmyuri": true,
	"listCommands": true, "endSessions": true, "saslStart": true, "saslContinue": true,
	"getFreeMonitoringStatus": true, "logout": true,
}

// needsLock tells whether a command may read a document and write it
// back: its name (the first key) is not one of unlocked, or it is an
// aggregate that writes ($out, $merge).
func needsLock(doc bson.Raw) bool {
	first, err := doc.IndexErr(0)
	if err != nil {
		return true
	}
	name := first.Key()
	if name == "aggregate" {
		pipeline, ok := doc.Lookup("pipeline").ArrayOK()
		if !ok {
			return true
		}
		stages, err := pipeline.Values()
		if err != nil {
			return true
		}
		for _, s := range stages {
			stage, ok := s.DocumentOK()
			if !ok {
				return true
			}
			if stage.Lookup("$out").Type != 0 || stage.Lookup("$merge").Type != 0 {
				return true
			}
		}
		return false
	}
	return !unlocked[name]
}
