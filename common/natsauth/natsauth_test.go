package natsauth_test

import (
	"fmt"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/nats-io/nats-server/v2/server"

	"ticketing.dev/common/natsauth"
)

// natsConf is nats.conf as the Kubernetes ConfigMap holds it (the literal
// block under "nats.conf: |", its indentation removed).
func natsConf(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../../infra/k8s/nats-depl.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var conf strings.Builder
	in := false
	for line := range strings.Lines(string(b)) {
		switch {
		case strings.TrimSpace(line) == "nats.conf: |":
			in = true
		case in && strings.TrimSpace(line) != "" && !strings.HasPrefix(line, "    "):
			in = false
		case in:
			conf.WriteString(strings.TrimPrefix(line, "    "))
		}
	}
	if conf.Len() == 0 {
		t.Fatal("no nats.conf in infra/k8s/nats-depl.yaml")
	}
	return conf.String()
}

// The Kubernetes nats.conf holds the authorization block the table gives,
// and nats-server reads from it exactly the users the embedded servers get.
func TestConfigMap(t *testing.T) {
	conf := natsConf(t)
	if !strings.Contains(conf, natsauth.Config()) {
		t.Fatalf("infra/k8s/nats-depl.yaml's nats.conf does not hold the table's authorization block; "+
			"replace its block with this one (indented under nats.conf):\n%s", natsauth.Config())
	}
	password := func(user string) string { return "pw-" + user }
	vars := "POD_NAME: nats-0\n"
	for _, u := range natsauth.UserNames() {
		vars += fmt.Sprintf("%s: %q\n", natsauth.PasswordVar(u), password(u))
	}
	opts := &server.Options{}
	if err := opts.ProcessConfigString(vars + conf); err != nil {
		t.Fatal(err)
	}
	want := natsauth.Users(password)
	if len(opts.Users) != len(want) {
		t.Fatalf("nats.conf has %d users, the table %d", len(opts.Users), len(want))
	}
	for _, w := range want {
		i := slices.IndexFunc(opts.Users, func(u *server.User) bool { return u.Username == w.Username })
		if i < 0 {
			t.Errorf("nats.conf has no user %s", w.Username)
			continue
		}
		got := opts.Users[i]
		if got.Password != w.Password {
			t.Errorf("user %s: password %q, want $%s", w.Username, got.Password, natsauth.PasswordVar(w.Username))
		}
		if !samePermissions(got.Permissions, w.Permissions) {
			t.Errorf("user %s: permissions %+v, want %+v", w.Username, got.Permissions, w.Permissions)
		}
	}
}

func samePermissions(a, b *server.Permissions) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return reflect.DeepEqual(a.Publish.Allow, b.Publish.Allow) && reflect.DeepEqual(a.Subscribe.Allow, b.Subscribe.Allow) &&
		len(a.Publish.Deny) == 0 && len(a.Subscribe.Deny) == 0
}
