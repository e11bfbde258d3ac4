package mongokit

import (
	"encoding/binary"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// msgOf builds an OP_MSG request whose body is cmd.
func msgOf(t *testing.T, flags uint32, cmd bson.D) []byte {
	t.Helper()
	body, err := bson.Marshal(cmd)
	if err != nil {
		t.Fatal(err)
	}
	msg := make([]byte, headerLen+4+1, headerLen+4+1+len(body))
	binary.LittleEndian.PutUint32(msg[12:], opMsg)
	binary.LittleEndian.PutUint32(msg[headerLen:], flags)
	msg[headerLen+4] = 0 // kind 0: the body
	msg = append(msg, body...)
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
	tests := []struct {
		name string
		msg  []byte
		want command
	}{
		{"find", msgOf(t, 0, d("find", "c", "filter", d(), "$db", "shop")), command{db: "shop"}},
		{"insert", msgOf(t, 0, d("insert", "c", "$db", "shop")), command{db: "shop"}},
		{"update", msgOf(t, 0, d("update", "c", "$db", "shop")), command{db: "shop", write: true}},
		{"findAndModify", msgOf(t, 0, d("findAndModify", "c", "$db", "shop")), command{db: "shop", write: true}},
		{"delete", msgOf(t, 0, d("delete", "c", "$db", "shop")), command{db: "shop", write: true}},
		{"aggregate", msgOf(t, 0, d("aggregate", "c", "pipeline", bson.A{d("$match", d())}, "$db", "shop")), command{db: "shop"}},
		{"aggregate $out", msgOf(t, 0, d("aggregate", "c", "pipeline", bson.A{d("$out", "x")}, "$db", "shop")), command{db: "shop", write: true}},
		{"aggregate $merge", msgOf(t, 0, d("aggregate", "c", "pipeline", bson.A{d("$merge", "x")}, "$db", "shop")), command{db: "shop", write: true}},
		{"unknown command", msgOf(t, 0, d("fancyNewThing", 1, "$db", "shop")), command{db: "shop", write: true}},
		{"moreToCome", msgOf(t, flagMoreToCome, d("update", "c", "$db", "shop")), command{db: "shop", write: true, moreToCome: true}},
		{"truncated", msgOf(t, 0, d("find", "c", "$db", "shop"))[:headerLen+8], command{write: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := classify(tt.msg); got != tt.want {
				t.Fatalf("classify = %+v, want %+v", got, tt.want)
			}
		})
	}
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
