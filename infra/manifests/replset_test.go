package manifests

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// replsetHarness runs the MongoDB members' script (mongo-replset.yaml) in
// Node with mongosh's globals stubbed: process.env, print, quit, and
// db.adminCommand answering from a table (a reply, or an error it throws, as
// mongosh throws a failed command). It prints what the script did as JSON:
// its exit code and the commands it sent, in order.
const replsetHarness = `
const fs = require('fs');
const vm = require('vm');
const scenario = JSON.parse(process.argv[3]);
const commands = [];
class Quit { constructor(code) { this.code = code; } }
const db = {
  adminCommand(cmd) {
    const name = Object.keys(cmd)[0];
    commands.push({ name, arg: cmd[name] });
    const reply = scenario.replies[name];
    if (reply === undefined) throw new Error('unexpected command ' + name);
    if (reply.throw) { const e = new Error(reply.throw.errmsg); e.code = reply.throw.code; e.codeName = reply.throw.codeName; throw e; }
    return JSON.parse(JSON.stringify(reply));
  },
};
const context = { process: { env: scenario.env }, print: () => {}, quit: (code) => { throw new Quit(code ?? 0); }, db };
let code = 0;
try { vm.runInNewContext(fs.readFileSync(process.argv[2], 'utf8'), context); }
catch (e) { if (!(e instanceof Quit)) throw e; code = e.code; }
process.stdout.write(JSON.stringify({ code, commands }));
`

type replsetCommand struct {
	Name string `json:"name"`
	Arg  any    `json:"arg"`
}

func TestMongoReplsetScript(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("no node to run the members' script with")
	}
	cm := find[*corev1.ConfigMap](t, rendered(t, "infra/k8s"), "mongo-replset")
	dir := t.TempDir()
	script := filepath.Join(dir, "replset.js")
	harness := filepath.Join(dir, "harness.js")
	if err := os.WriteFile(script, []byte(cm.Data["replset.js"]), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(harness, []byte(replsetHarness), 0o600); err != nil {
		t.Fatal(err)
	}

	env := func(pod, replicas string) map[string]string {
		return map[string]string{"POD_NAME": pod, "MONGO_REPLICAS": replicas, "MONGO_SERVICE": "auth-mongo-hl"}
	}
	notInitiated := map[string]any{"throw": map[string]any{"code": 94, "codeName": "NotYetInitialized", "errmsg": "no replset config has been received"}}
	cmdLine := map[string]any{"ok": 1, "parsed": map[string]any{"replication": map[string]any{"replSet": "rs0"}}}
	member := func(id int, host string) map[string]any { return map[string]any{"_id": id, "host": host} }
	config := func(members ...map[string]any) map[string]any {
		return map[string]any{"ok": 1, "config": map[string]any{"_id": "rs0", "version": 1, "members": members}}
	}
	h0, h1, h2 := "auth-mongo-0.auth-mongo-hl:27017", "auth-mongo-1.auth-mongo-hl:27017", "auth-mongo-2.auth-mongo-hl:27017"
	tests := []struct {
		name     string
		env      map[string]string
		replies  map[string]any
		wantCode int
		want     []replsetCommand // the commands sent after replSetGetStatus
	}{
		{
			name: "member 0 initiates the set with every member", env: env("auth-mongo-0", "3"),
			replies:  map[string]any{"replSetGetStatus": notInitiated, "getCmdLineOpts": cmdLine, "replSetInitiate": map[string]any{"ok": 1}},
			wantCode: 1, // ready at a later run, once it is in the set
			want: []replsetCommand{{"getCmdLineOpts", 1.0}, {"replSetInitiate", map[string]any{"_id": "rs0", "members": []any{
				map[string]any{"_id": 0.0, "host": h0}, map[string]any{"_id": 1.0, "host": h1}, map[string]any{"_id": 2.0, "host": h2}}}}},
		},
		{
			name: "a set of one is initiated with one member", env: env("auth-mongo-0", "1"),
			replies:  map[string]any{"replSetGetStatus": notInitiated, "getCmdLineOpts": cmdLine, "replSetInitiate": map[string]any{"ok": 1}},
			wantCode: 1,
			want: []replsetCommand{{"getCmdLineOpts", 1.0}, {"replSetInitiate", map[string]any{"_id": "rs0", "members": []any{
				map[string]any{"_id": 0.0, "host": h0}}}}},
		},
		{
			name: "an initiate the others refuse is retried at the next run", env: env("auth-mongo-0", "3"),
			replies: map[string]any{"replSetGetStatus": notInitiated, "getCmdLineOpts": cmdLine,
				"replSetInitiate": map[string]any{"throw": map[string]any{"code": 74, "codeName": "NodeNotFound", "errmsg": "quorum check failed"}}},
			wantCode: 1,
			want: []replsetCommand{{"getCmdLineOpts", 1.0}, {"replSetInitiate", map[string]any{"_id": "rs0", "members": []any{
				map[string]any{"_id": 0.0, "host": h0}, map[string]any{"_id": 1.0, "host": h1}, map[string]any{"_id": 2.0, "host": h2}}}}},
		},
		{
			name: "another member waits for member 0", env: env("auth-mongo-2", "3"),
			replies: map[string]any{"replSetGetStatus": notInitiated}, wantCode: 1,
		},
		{
			name: "not initiated, answered as a reply rather than thrown", env: env("auth-mongo-1", "3"),
			replies:  map[string]any{"replSetGetStatus": map[string]any{"ok": 0, "code": 94, "codeName": "NotYetInitialized"}},
			wantCode: 1,
		},
		{
			name: "mongod without --replSet is never ready", env: env("auth-mongo-0", "1"),
			replies:  map[string]any{"replSetGetStatus": map[string]any{"throw": map[string]any{"code": 76, "codeName": "NoReplicationEnabled", "errmsg": "not running with --replSet"}}},
			wantCode: 1,
		},
		{
			name: "the primary of a complete set is ready", env: env("auth-mongo-0", "3"),
			replies:  map[string]any{"replSetGetStatus": map[string]any{"ok": 1, "myState": 1}, "replSetGetConfig": config(member(0, h0), member(1, h1), member(2, h2))},
			wantCode: 0, want: []replsetCommand{{"replSetGetConfig", 1.0}},
		},
		{
			name: "the primary adds one missing member per run", env: env("auth-mongo-0", "3"),
			replies: map[string]any{"replSetGetStatus": map[string]any{"ok": 1, "myState": 1}, "replSetGetConfig": config(member(0, h0)),
				"replSetReconfig": map[string]any{"ok": 1}},
			wantCode: 0,
			want: []replsetCommand{{"replSetGetConfig", 1.0}, {"replSetReconfig", map[string]any{"_id": "rs0", "version": 2.0, "members": []any{
				map[string]any{"_id": 0.0, "host": h0}, map[string]any{"_id": 1.0, "host": h1}}}}},
		},
		{
			name: "a secondary is ready and changes nothing", env: env("auth-mongo-1", "3"),
			replies: map[string]any{"replSetGetStatus": map[string]any{"ok": 1, "myState": 2}}, wantCode: 0,
		},
		{
			name: "a member still syncing is not ready", env: env("auth-mongo-2", "3"),
			replies: map[string]any{"replSetGetStatus": map[string]any{"ok": 1, "myState": 5}}, wantCode: 1,
		},
		{
			name: "without the variables nothing is sent", env: map[string]string{"POD_NAME": "auth-mongo-0"},
			replies: map[string]any{}, wantCode: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			scenario, err := json.Marshal(map[string]any{"env": tt.env, "replies": tt.replies})
			if err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command(node, harness, script, string(scenario)).Output()
			if err != nil {
				t.Fatalf("node: %v\n%s", err, out)
			}
			var got struct {
				Code     int              `json:"code"`
				Commands []replsetCommand `json:"commands"`
			}
			if err := json.Unmarshal(out, &got); err != nil {
				t.Fatalf("%v: %s", err, out)
			}
			if got.Code != tt.wantCode {
				t.Errorf("exit code %d, want %d", got.Code, tt.wantCode)
			}
			sent := got.Commands
			if len(sent) > 0 && sent[0].Name == "replSetGetStatus" {
				sent = sent[1:]
			} else if tt.env["MONGO_REPLICAS"] != "" {
				t.Errorf("the script did not start with replSetGetStatus: %+v", got.Commands)
			}
			if len(sent) == 0 {
				sent = nil
			}
			if !reflect.DeepEqual(sent, tt.want) {
				t.Errorf("commands sent\n %+v\nwant\n %+v", sent, tt.want)
			}
		})
	}
}
