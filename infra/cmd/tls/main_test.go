package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	"ticketing.dev/infra/manifests"
)

const host = "ticketing.dev"

var now = time.Date(2026, 9, 1, 12, 0, 0, 0, time.UTC)

func readCert(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	block, rest := pem.Decode(data)
	if block == nil || block.Type != "CERTIFICATE" || len(bytes.TrimSpace(rest)) != 0 {
		t.Fatalf("%s: want one PEM certificate", path)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

func verify(ca, cert *x509.Certificate, name string, at time.Time) error {
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	_, err := cert.Verify(x509.VerifyOptions{DNSName: name, Roots: roots, CurrentTime: at})
	return err
}

// A first run makes a CA and a server certificate for the host that it
// signs: a key pair a TLS server loads, valid no longer than browsers
// accept, the keys readable by their owner only.
func TestMakesACAAndACertificate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "tls")
	var out bytes.Buffer
	if err := run(dir, host, now, &out); err != nil {
		t.Fatal(err)
	}
	if _, err := tls.LoadX509KeyPair(filepath.Join(dir, certFile), filepath.Join(dir, keyFile)); err != nil {
		t.Fatalf("the certificate and key do not load as a TLS server's: %v", err)
	}
	ca, cert := readCert(t, filepath.Join(dir, caCertFile)), readCert(t, filepath.Join(dir, certFile))
	if !ca.IsCA || !ca.MaxPathLenZero {
		t.Error("the CA's certificate is not a CA's that signs server certificates only")
	}
	if err := verify(ca, cert, host, now); err != nil {
		t.Errorf("the CA does not vouch for the certificate: %v", err)
	}
	if got := cert.NotAfter.Sub(now); got > certValidity {
		t.Errorf("the certificate is valid %s, longer than browsers accept", got)
	}
	for _, name := range []string{keyFile, caKeyFile, "."} {
		info, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if info.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s is mode %s: others may read it", name, info.Mode().Perm())
		}
	}
	if !strings.Contains(out.String(), "new: trust it once") {
		t.Errorf("the output does not say the CA is new:\n%s", out.String())
	}
}

// Trusting the CA trusts nothing but the site: a certificate it signs for
// another name, an IP address, or a client is refused.
func TestTheCAVouchesForTheSiteOnly(t *testing.T) {
	ca, caKey, err := makeCA(host, now)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	sign := func(template *x509.Certificate) *x509.Certificate {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		template.SerialNumber, template.NotBefore, template.NotAfter = ca.SerialNumber, now.Add(-time.Hour), now.Add(time.Hour)
		der, err := x509.CreateCertificate(rand.Reader, template, ca, key.Public(), caKey)
		if err != nil {
			t.Fatal(err)
		}
		cert, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatal(err)
		}
		return cert
	}
	server := []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	tests := []struct {
		name     string
		template *x509.Certificate
		opts     x509.VerifyOptions
		ok       bool
	}{
		{"the site", &x509.Certificate{DNSNames: []string{host}, ExtKeyUsage: server}, x509.VerifyOptions{DNSName: host}, true},
		{"a subdomain", &x509.Certificate{DNSNames: []string{"api." + host}, ExtKeyUsage: server}, x509.VerifyOptions{DNSName: "api." + host}, true},
		{"another site", &x509.Certificate{DNSNames: []string{"bank.example"}, ExtKeyUsage: server}, x509.VerifyOptions{DNSName: "bank.example"}, false},
		{"an IP address", &x509.Certificate{DNSNames: []string{host}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, ExtKeyUsage: server}, x509.VerifyOptions{DNSName: "127.0.0.1"}, false},
		{"a client", &x509.Certificate{DNSNames: []string{host}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}},
			x509.VerifyOptions{KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.opts.Roots, tt.opts.CurrentTime = roots, now
			_, err := sign(tt.template).Verify(tt.opts)
			if (err == nil) != tt.ok {
				t.Errorf("verified: %v, want %v", err, tt.ok)
			}
		})
	}
}

// The CA is kept across runs, so a browser that trusts it keeps trusting
// the certificate, which is issued anew.
func TestKeepsTheCA(t *testing.T) {
	dir := t.TempDir()
	if err := run(dir, host, now, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	firstCA, _ := os.ReadFile(filepath.Join(dir, caCertFile))
	first := readCert(t, filepath.Join(dir, certFile))
	later := now.Add(300 * 24 * time.Hour)
	var out bytes.Buffer
	if err := run(dir, host, later, &out); err != nil {
		t.Fatal(err)
	}
	if again, _ := os.ReadFile(filepath.Join(dir, caCertFile)); !bytes.Equal(again, firstCA) {
		t.Error("the second run replaced the CA")
	}
	cert := readCert(t, filepath.Join(dir, certFile))
	if cert.SerialNumber.Cmp(first.SerialNumber) == 0 || !cert.NotAfter.After(first.NotAfter) {
		t.Error("the second run did not issue a new certificate")
	}
	if err := verify(readCert(t, filepath.Join(dir, caCertFile)), cert, host, later); err != nil {
		t.Errorf("the kept CA does not vouch for the new certificate: %v", err)
	}
	if !strings.Contains(out.String(), "kept:") {
		t.Errorf("the output does not say the CA was kept:\n%s", out.String())
	}
}

// A CA it cannot use is refused and left as it is, never replaced: half of
// one, a key that is not its certificate's, one about to expire.
func TestRefusesACAItCannotUse(t *testing.T) {
	made := func(t *testing.T) string {
		dir := t.TempDir()
		if err := run(dir, host, now, &bytes.Buffer{}); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	tests := []struct {
		name, want string
		prepare    func(t *testing.T) (dir string, at time.Time)
	}{
		{"a certificate without its key", "a CA needs both", func(t *testing.T) (string, time.Time) {
			dir := made(t)
			if err := os.Remove(filepath.Join(dir, caKeyFile)); err != nil {
				t.Fatal(err)
			}
			return dir, now
		}},
		{"another CA's key", "private key does not match", func(t *testing.T) (string, time.Time) {
			dir, other := made(t), made(t)
			key, err := os.ReadFile(filepath.Join(other, caKeyFile))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, caKeyFile), key, 0o600); err != nil {
				t.Fatal(err)
			}
			return dir, now
		}},
		{"a CA about to expire", "expires on", func(t *testing.T) (string, time.Time) {
			return made(t), now.Add(caValidity - 10*24*time.Hour)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir, at := tt.prepare(t)
			before, _ := os.ReadFile(filepath.Join(dir, caCertFile))
			err := run(dir, host, at, &bytes.Buffer{})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want one saying %q", err, tt.want)
			}
			if after, _ := os.ReadFile(filepath.Join(dir, caCertFile)); !bytes.Equal(before, after) {
				t.Error("the CA's certificate was changed")
			}
		})
	}
}

// The printed command creates the Secret the Gateway's HTTPS listener names,
// in the platform's namespace, from the files this run wrote.
func TestPrintsTheCommandForTheGatewaysSecret(t *testing.T) {
	root, err := manifests.RepoRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	objs, err := manifests.LoadFile(filepath.Join(root, "infra", "k8s", "gateway.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var refs []string
	for _, o := range objs {
		if gw, ok := o.Obj.(*gatewayv1.Gateway); ok {
			for _, l := range gw.Spec.Listeners {
				if l.TLS != nil {
					for _, ref := range l.TLS.CertificateRefs {
						refs = append(refs, string(ref.Name))
					}
				}
			}
		}
	}
	if len(refs) != 1 || refs[0] != secretName {
		t.Errorf("the Gateway's certificates come from %v, this command makes %s", refs, secretName)
	}
	nsObjs, err := manifests.LoadFile(filepath.Join(root, "infra", "namespace.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if ns := nsObjs[0].Obj.(metaNamed).GetName(); ns != namespace {
		t.Errorf("the platform's namespace is %s, this command uses %s", ns, namespace)
	}

	dir := filepath.Join(t.TempDir(), "tls")
	var out bytes.Buffer
	if err := run(dir, host, now, &out); err != nil {
		t.Fatal(err)
	}
	// As a shell reads it: the lines that end in a backslash go on.
	printed := strings.Join(strings.Fields(strings.ReplaceAll(out.String(), "\\\n", " ")), " ")
	want := "kubectl -n ticketing create secret generic ticketing-tls --type=kubernetes.io/tls " +
		"--from-file=tls.crt=" + filepath.Join(dir, certFile) + " --from-file=tls.key=" + filepath.Join(dir, keyFile) +
		" --from-file=ca.crt=" + filepath.Join(dir, caCertFile)
	if !strings.Contains(printed, want) {
		t.Errorf("the output lacks\n%s\nin\n%s", want, out.String())
	}
}

type metaNamed interface{ GetName() string }

// A certificate issued for a host the CA does not cover is refused before
// anything is written.
func TestRefusesAHostTheCADoesNotCover(t *testing.T) {
	dir := t.TempDir()
	if err := run(dir, host, now, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(filepath.Join(dir, certFile))
	err := run(dir, "ticketing.example", now, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "cannot vouch for ticketing.example") {
		t.Errorf("error %v, want the CA refusing ticketing.example", err)
	}
	if after, _ := os.ReadFile(filepath.Join(dir, certFile)); !bytes.Equal(before, after) {
		t.Error("the certificate was replaced")
	}
}
