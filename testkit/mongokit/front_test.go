package mongokit

import (
	"encoding/binary"
	"reflect"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// msgOf builds an OP_MSG request whose body is cmd, followed by the
// document sequence seq of the statements stmts when seq is not empty (as
// drivers send an update's statements).
func msgOf(t *testing.T, flags uint32, cmd bson.D, seq string, stmts ...bson.D) []byte {
	t.Helper()
	marshal := func(d bson.D) []byte {
		b, err := bson.Marshal(d)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	msg := make([]byte, headerLen+4, 256)
	binary.LittleEndian.PutUint32(msg[12:], opMsg)
	binary.LittleEndian.PutUint32(msg[headerLen:], flags)
	msg = append(msg, 0) // kind 0: the body
	msg = append(msg, marshal(cmd)...)
	if seq != "" {
		section := append([]byte{0, 0, 0, 0}, append([]byte(seq), 0)...)
		for _, st := range stmts {
			section = append(section, marshal(st)...)
		}
		binary.LittleEndian.PutUint32(section, uint32(len(section)))
		msg = append(append(msg, 1), section...)
	}
	binary.LittleEndian.PutUint32(msg, uint32(len(msg)))
	return msg
}

// Only commands that cannot read a document to write it back pass without
// their database's lock; anything else, unknown and unreadable included,
// takes it.
func TestClassify(t *testing.T) {
	d := func(kv ...any) bson.D {
		var out bson.D
		for i := 0; i < len(kv); i += 2 {
			out = append(out, bson.E{Key: kv[i].(string), Value: kv[i+1]})
		}
		return out
	}
	oid := bson.NewObjectID()
	key := func(coll string, v any) string {
		t.Helper()
		k, ok := idKey(mustRaw(t, bson.D{{Key: "_id", Value: v}}))
		if !ok {
			t.Fatalf("no key for _id %v", v)
		}
		return coll + "\x00" + k
	}
	q := func(id any) bson.D { return d("q", d("_id", id), "u", d("$set", d("a", 1))) }
	tests := []struct {
		name string
		msg  []byte
		want command
	}{
		{"find", msgOf(t, 0, d("find", "c", "filter", d(), "$db", "shop"), ""), command{db: "shop"}},
		{"insert", msgOf(t, 0, d("insert", "c", "$db", "shop"), "documents", d("_id", 1)), command{db: "shop"}},
		{"update by _id", msgOf(t, 0, d("update", "c", "$db", "shop"), "updates", q(oid)),
			command{db: "shop", write: true, docs: []string{key("c", oid)}}},
		{"update by _id and version", msgOf(t, 0, d("update", "c", "$db", "shop"), "updates",
			d("q", d("_id", oid, "version", 3), "u", d("$inc", d("version", 1)))),
			command{db: "shop", write: true, docs: []string{key("c", oid)}}},
		{"update by $eq", msgOf(t, 0, d("update", "c", "$db", "shop"), "updates", q(d("$eq", "x"))),
			command{db: "shop", write: true, docs: []string{key("c", "x")}}},
		{"two statements, sorted once", msgOf(t, 0, d("update", "c", "$db", "shop"), "updates", q("b"), q("a"), q("b")),
			command{db: "shop", write: true, docs: []string{key("c", "a"), key("c", "b")}}},
		{"statements in the body", msgOf(t, 0, d("update", "c", "updates", bson.A{q(int32(7))}, "$db", "shop"), ""),
			command{db: "shop", write: true, docs: []string{key("c", int64(7))}}},
		{"update without _id", msgOf(t, 0, d("update", "c", "$db", "shop"), "updates", d("q", d("status", "x"))),
			command{db: "shop", write: true}},
		{"update by $in", msgOf(t, 0, d("update", "c", "$db", "shop"), "updates", q(d("$in", bson.A{1, 2}))),
			command{db: "shop", write: true}},
		{"one statement without _id", msgOf(t, 0, d("update", "c", "$db", "shop"), "updates", q("a"), d("q", d())),
			command{db: "shop", write: true}},
		{"findAndModify by _id", msgOf(t, 0, d("findAndModify", "c", "query", d("_id", oid), "$db", "shop"), ""),
			command{db: "shop", write: true, docs: []string{key("c", oid)}}},
		{"findAndModify", msgOf(t, 0, d("findAndModify", "c", "query", d("n", 1), "$db", "shop"), ""), command{db: "shop", write: true}},
		{"delete by _id", msgOf(t, 0, d("delete", "c", "$db", "shop"), "deletes", d("q", d("_id", "a"), "limit", 1)),
			command{db: "shop", write: true, docs: []string{key("c", "a")}}},
		{"aggregate", msgOf(t, 0, d("aggregate", "c", "pipeline", bson.A{d("$match", d())}, "$db", "shop"), ""), command{db: "shop"}},
		{"aggregate $out", msgOf(t, 0, d("aggregate", "c", "pipeline", bson.A{d("$out", "x")}, "$db", "shop"), ""), command{db: "shop", write: true}},
		{"aggregate $merge", msgOf(t, 0, d("aggregate", "c", "pipeline", bson.A{d("$merge", "x")}, "$db", "shop"), ""), command{db: "shop", write: true}},
		{"unknown command", msgOf(t, 0, d("fancyNewThing", 1, "$db", "shop"), ""), command{db: "shop", write: true}},
		{"moreToCome", msgOf(t, flagMoreToCome, d("drop", "c", "$db", "shop"), ""), command{db: "shop", write: true, moreToCome: true}},
		{"truncated", msgOf(t, 0, d("find", "c", "$db", "shop"), "")[:headerLen+8], command{write: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := classify(tt.msg)
			got.name, got.coll = "", "" // only counted: TestCommandNames
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("classify = %+v, want %+v", got, tt.want)
			}
		})
	}
}

// A command is counted under its name and the collection it names, if any
// (getMore names it in a field of its own).
func TestCommandNames(t *testing.T) {
	tests := []struct {
		cmd        bson.D
		name, coll string
	}{
		{bson.D{{Key: "find", Value: "tickets"}, {Key: "$db", Value: "shop"}}, "find", "tickets"},
		{bson.D{{Key: "findAndModify", Value: "orders"}, {Key: "$db", Value: "shop"}}, "findAndModify", "orders"},
		{bson.D{{Key: "getMore", Value: int64(42)}, {Key: "collection", Value: "tickets"}, {Key: "$db", Value: "shop"}}, "getMore", "tickets"},
		{bson.D{{Key: "hello", Value: 1}, {Key: "$db", Value: "admin"}}, "hello", ""},
	}
	for _, tt := range tests {
		got := classify(msgOf(t, 0, tt.cmd, ""))
		if got.name != tt.name || got.coll != tt.coll {
			t.Errorf("%v: counted as %q %q, want %q %q", tt.cmd, got.name, got.coll, tt.name, tt.coll)
		}
	}
}

func mustRaw(t *testing.T, d bson.D) bson.Raw {
	t.Helper()
	b, err := bson.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestPostgreSQLURL(t *testing.T) {
	const custom = "plan_cache_mode=force_custom_plan"
	tests := []struct{ in, want string }{
		{"postgres://postgres@127.0.0.1:5432/db", "postgres://postgres@127.0.0.1:5432/db?" + custom + "&sslmode=disable"},
		{"postgres://u@localhost/db?x=1", "postgres://u@localhost/db?" + custom + "&sslmode=disable&x=1"},
		{"postgres://u@127.0.0.1/db?sslmode=require", "postgres://u@127.0.0.1/db?" + custom + "&sslmode=require"},
		{"postgres://u@db.example.com/db", "postgres://u@db.example.com/db?" + custom},
		{"postgres://u@db.example.com/db?plan_cache_mode=auto", "postgres://u@db.example.com/db?plan_cache_mode=auto"},
	}
	for _, tt := range tests {
		if got := postgreSQLURL(tt.in); got != tt.want {
			t.Errorf("postgreSQLURL(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
