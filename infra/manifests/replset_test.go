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
// Node with mongosh's globals stubbed: process.env, print, quit, and db,
// whose getSiblingDB(name).runCommand and .auth answer from a table (a
// reply, an error it throws as mongosh throws a failed command or a refused
// authentication, or a list of them, one per call). It prints what the
// script did as JSON: its exit code and the commands it sent, in order
// (auth as a command named auth, its argument user:password).
const replsetHarness = `
const fs = require('fs');
const vm = require('vm');
const scenario = JSON.parse(process.argv[3]);
const commands = [];
const calls = {};
class Quit { constructor(code) { this.code = code; } }
function reply(name) {
  let r = scenario.replies[name];
  if (Array.isArray(r)) { calls[name] = (calls[name] || 0) + 1; r = r[Math.min(calls[name], r.length) - 1]; }
  if (r === undefined) throw new Error('unexpected command ' + name);
  if (r.throw) { const e = new Error(r.throw.errmsg); e.code = r.throw.code; e.codeName = r.throw.codeName; throw e; }
  return JSON.parse(JSON.stringify(r));
}
function database(db) {
  return {
    runCommand(cmd) {
      const name = Object.keys(cmd)[0];
      const { [name]: arg, ...rest } = cmd;
      commands.push(Object.keys(rest).length > 0 ? { db, name, arg, rest } : { db, name, arg });
      return reply(name);
    },
    auth(user, pwd) { commands.push({ db, name: 'auth', arg: user + ':' + pwd }); return reply('auth'); },
  };
}
const db = { getSiblingDB: database, adminCommand: (cmd) => database('admin').runCommand(cmd) };
const context = { process: { env: scenario.env }, print: () => {}, quit: (code) => { throw new Quit(code ?? 0); }, db };
let code = 0;
try { vm.runInNewContext(fs.readFileSync(process.argv[2], 'utf8'), context); }
catch (e) { if (!(e instanceof Quit)) throw e; code = e.code; }
process.stdout.write(JSON.stringify({ code, commands }));
`

type replsetCommand struct {
	DB   string         `json:"db"`
	Name string         `json:"name"`
	Arg  any            `json:"arg"`
	Rest map[string]any `json:"rest,omitempty"`
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
		return map[string]string{"POD_NAME": pod, "MONGO_REPLICAS": replicas, "MONGO_SERVICE": "auth-mongo-hl",
			"MONGO_DATABASE": "auth", "MONGO_USER": "auth", "MONGO_PASSWORD": "pw", "MONGO_ROOT_USER": "root", "MONGO_ROOT_PASSWORD": "rootpw"}
	}
	fail := func(code int, codeName, errmsg string) map[string]any {
		return map[string]any{"throw": map[string]any{"code": code, "codeName": codeName, "errmsg": errmsg}}
	}
	ok := map[string]any{"ok": 1}
	// No user yet (the localhost exception): mongod refuses to authenticate.
	noUser := fail(18, "AuthenticationFailed", "Authentication failed.")
	notInitiated := fail(94, "NotYetInitialized", "no replset config has been received")
	cmdLine := map[string]any{"ok": 1, "parsed": map[string]any{"replication": map[string]any{"replSet": "rs0"}}}
	member := func(id int, host string) map[string]any { return map[string]any{"_id": id, "host": host} }
	config := func(members ...map[string]any) map[string]any {
		return map[string]any{"ok": 1, "config": map[string]any{"_id": "rs0", "version": 1, "members": members}}
	}
	users := func(names ...string) map[string]any {
		list := []any{}
		for _, n := range names {
			list = append(list, map[string]any{"user": n, "db": "auth"})
		}
		return map[string]any{"ok": 1, "users": list}
	}
	h0, h1, h2 := "auth-mongo-0.auth-mongo-hl:27017", "auth-mongo-1.auth-mongo-hl:27017", "auth-mongo-2.auth-mongo-hl:27017"
	initiate := func(hosts ...string) replsetCommand {
		var members []any
		for i, h := range hosts {
			members = append(members, map[string]any{"_id": float64(i), "host": h})
		}
		return replsetCommand{"admin", "replSetInitiate", map[string]any{"_id": "rs0", "members": members}, nil}
	}
	getConfig := replsetCommand{"admin", "replSetGetConfig", 1.0, nil}
	findUser := replsetCommand{"auth", "usersInfo", "auth", nil}
	createUser := replsetCommand{"auth", "createUser", "auth", map[string]any{"pwd": "pw", "roles": []any{map[string]any{"role": "readWrite", "db": "auth"}}}}
	tests := []struct {
		name     string
		env      map[string]string
		replies  map[string]any
		wantCode int
		want     []replsetCommand // the commands sent after replSetGetStatus
	}{
		{
			name: "member 0 initiates the set with every member", env: env("auth-mongo-0", "3"),
			replies:  map[string]any{"auth": noUser, "replSetGetStatus": notInitiated, "getCmdLineOpts": cmdLine, "replSetInitiate": ok},
			wantCode: 1, // ready at a later run, once it is in the set
			want:     []replsetCommand{{"admin", "getCmdLineOpts", 1.0, nil}, initiate(h0, h1, h2)},
		},
		{
			name: "a set of one is initiated with one member", env: env("auth-mongo-0", "1"),
			replies:  map[string]any{"auth": noUser, "replSetGetStatus": notInitiated, "getCmdLineOpts": cmdLine, "replSetInitiate": ok},
			wantCode: 1,
			want:     []replsetCommand{{"admin", "getCmdLineOpts", 1.0, nil}, initiate(h0)},
		},
		{
			name: "an initiate the others refuse is retried at the next run", env: env("auth-mongo-0", "3"),
			replies: map[string]any{"auth": noUser, "replSetGetStatus": notInitiated, "getCmdLineOpts": cmdLine,
				"replSetInitiate": fail(74, "NodeNotFound", "quorum check failed")},
			wantCode: 1,
			want:     []replsetCommand{{"admin", "getCmdLineOpts", 1.0, nil}, initiate(h0, h1, h2)},
		},
		{
			name: "another member waits for member 0", env: env("auth-mongo-2", "3"),
			replies: map[string]any{"auth": noUser, "replSetGetStatus": notInitiated}, wantCode: 1,
		},
		{
			name: "not initiated, answered as a reply rather than thrown", env: env("auth-mongo-1", "3"),
			replies:  map[string]any{"auth": noUser, "replSetGetStatus": map[string]any{"ok": 0, "code": 94, "codeName": "NotYetInitialized"}},
			wantCode: 1,
		},
		{
			name: "mongod without --replSet is never ready", env: env("auth-mongo-0", "1"),
			replies:  map[string]any{"auth": noUser, "replSetGetStatus": fail(76, "NoReplicationEnabled", "not running with --replSet")},
			wantCode: 1,
		},
		{
			name: "a new primary creates the administrator, then the service's user", env: env("auth-mongo-0", "1"),
			replies: map[string]any{"auth": []any{noUser, ok}, "replSetGetStatus": map[string]any{"ok": 1, "myState": 1},
				"createUser": ok, "usersInfo": users(), "replSetGetConfig": config(member(0, h0))},
			wantCode: 0,
			want: []replsetCommand{
				{"admin", "createUser", "root", map[string]any{"pwd": "rootpw", "roles": []any{map[string]any{"role": "root", "db": "admin"}}}},
				{"admin", "auth", "root:rootpw", nil},
				findUser, createUser, getConfig,
			},
		},
		{
			name: "the primary of a complete set with its user is ready", env: env("auth-mongo-0", "3"),
			replies: map[string]any{"auth": ok, "replSetGetStatus": map[string]any{"ok": 1, "myState": 1},
				"usersInfo": users("auth"), "replSetGetConfig": config(member(0, h0), member(1, h1), member(2, h2))},
			wantCode: 0, want: []replsetCommand{findUser, getConfig},
		},
		{
			name: "the primary adds one missing member per run", env: env("auth-mongo-0", "3"),
			replies: map[string]any{"auth": ok, "replSetGetStatus": map[string]any{"ok": 1, "myState": 1}, "usersInfo": users("auth"),
				"replSetGetConfig": config(member(0, h0)), "replSetReconfig": ok},
			wantCode: 0,
			want: []replsetCommand{findUser, getConfig, {"admin", "replSetReconfig", map[string]any{"_id": "rs0", "version": 2.0, "members": []any{
				map[string]any{"_id": 0.0, "host": h0}, map[string]any{"_id": 1.0, "host": h1}}}, nil}},
		},
		{
			name: "a primary whose service user cannot be created is not ready", env: env("auth-mongo-0", "1"),
			replies: map[string]any{"auth": ok, "replSetGetStatus": map[string]any{"ok": 1, "myState": 1}, "usersInfo": users(),
				"createUser": fail(13, "Unauthorized", "not authorized on auth"), "replSetGetConfig": config(member(0, h0))},
			wantCode: 1, want: []replsetCommand{findUser, createUser, getConfig},
		},
		{
			name: "a wrong administrator password is never ready", env: env("auth-mongo-1", "3"),
			replies:  map[string]any{"auth": noUser, "replSetGetStatus": fail(13, "Unauthorized", "command replSetGetStatus requires authentication")},
			wantCode: 1,
		},
		{
			name: "a secondary is ready and changes nothing", env: env("auth-mongo-1", "3"),
			replies: map[string]any{"auth": ok, "replSetGetStatus": map[string]any{"ok": 1, "myState": 2}}, wantCode: 0,
		},
		{
			name: "a member still syncing is not ready", env: env("auth-mongo-2", "3"),
			replies: map[string]any{"auth": ok, "replSetGetStatus": map[string]any{"ok": 1, "myState": 5}}, wantCode: 1,
		},
		{
			name: "without the members' variables nothing is sent", env: map[string]string{"POD_NAME": "auth-mongo-0"},
			replies: map[string]any{}, wantCode: 1,
		},
		{
			name: "without the users' variables nothing is sent", env: map[string]string{"POD_NAME": "auth-mongo-0", "MONGO_REPLICAS": "1", "MONGO_SERVICE": "auth-mongo-hl"},
			replies: map[string]any{}, wantCode: 1,
		},
	}
	// Every run that has its variables starts the same way: it authenticates
	// as the administrator, then asks for the set's status.
	prologue := []replsetCommand{{"admin", "auth", "root:rootpw", nil}, {"admin", "replSetGetStatus", 1.0, nil}}
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
			switch {
			case tt.env["MONGO_ROOT_USER"] == "":
				if len(sent) != 0 {
					t.Errorf("sent %+v without its variables", sent)
				}
			case len(sent) < 2 || !reflect.DeepEqual(sent[:2], prologue):
				t.Errorf("the script did not start with %+v: %+v", prologue, sent)
			default:
				sent = sent[2:]
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
