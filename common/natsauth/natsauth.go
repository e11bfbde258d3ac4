// Package natsauth turns the permission table (events.Services) into the
// users of a nats-server: the embedded ones' server.Options.Users
// (devstack, the test kit) and the authorization block of the Kubernetes
// nats.conf. Only those import it, so no service links nats-server.
package natsauth

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/nats-io/nats-server/v2/server"

	"ticketing.dev/common/events"
)

// UserNames are the users of the broker: the admin, then each service of
// events.Services in name order.
func UserNames() []string {
	names := []string{events.AdminUser}
	return append(names, slices.Sorted(maps.Keys(events.Services))...)
}

// Users are the server users for every name of UserNames with the password
// password(name) gives: the admin unrestricted, each service with its
// events.Permissions.
func Users(password func(user string) string) []*server.User {
	var users []*server.User
	for _, name := range UserNames() {
		u := &server.User{Username: name, Password: password(name)}
		if name != events.AdminUser {
			p, err := events.Permissions(name)
			if err != nil {
				panic(err) // every name comes from the table
			}
			u.Permissions = &server.Permissions{
				Publish:   &server.SubjectPermission{Allow: p.Publish},
				Subscribe: &server.SubjectPermission{Allow: p.Subscribe},
			}
		}
		users = append(users, u)
	}
	return users
}

// PasswordVar is the environment variable that holds a user's password in
// the Kubernetes nats.conf (NATS_TICKETS_PASSWORD), set from a Secret;
// nats-server expands $NAME in its configuration from its environment.
func PasswordVar(user string) string { return "NATS_" + strings.ToUpper(user) + "_PASSWORD" }

// Config is the authorization block of nats.conf: every user of UserNames
// with its password from PasswordVar and its permissions. The Kubernetes
// ConfigMap (infra/k8s/nats-depl.yaml) holds it as is, which TestConfigMap
// checks.
func Config() string {
	var b strings.Builder
	b.WriteString("# Generated from the permission table (common/events/permissions.go,\n")
	b.WriteString("# natsauth.Config): each service publishes its own events and consumes its\n")
	b.WriteString("# own durables only; admin is the operator's (the dlq command).\n")
	b.WriteString("authorization {\n  users: [\n")
	for _, name := range UserNames() {
		fmt.Fprintf(&b, "    {user: %s, password: $%s", name, PasswordVar(name))
		if name != events.AdminUser {
			p, _ := events.Permissions(name)
			b.WriteString(", permissions: {\n")
			list(&b, "publish", p.Publish)
			list(&b, "subscribe", p.Subscribe)
			b.WriteString("    }")
		}
		b.WriteString("}\n")
	}
	b.WriteString("  ]\n}\n")
	return b.String()
}

func list(b *strings.Builder, what string, subjects []string) {
	fmt.Fprintf(b, "      %s: {allow: [\n", what)
	for _, s := range subjects {
		fmt.Fprintf(b, "        %q\n", s)
	}
	b.WriteString("      ]}\n")
}
