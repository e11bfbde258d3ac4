// Command tls makes what the Kubernetes edge serves HTTPS with on a
// development cluster (`make tls`): a local certificate authority and,
// signed by it, the certificate for ticketing.dev. It prints the kubectl
// command that puts the certificate in the Secret the Gateway names, and
// how to make this machine's browsers trust the CA.
//
// The CA is made once and kept, since trusting it is done once per
// machine; the certificate is issued anew on every run. The CA may vouch
// for the site's host name (and its subdomains) only, and for TLS servers
// only (name constraints and an extended key usage), so trusting it trusts
// nothing else; its key never leaves the directory, which git ignores.
package main

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

const (
	caCertFile = "ca.crt"
	caKeyFile  = "ca.key"
	certFile   = "tls.crt"
	keyFile    = "tls.key"

	// The Secret the Gateway's HTTPS listener names, in the platform's
	// namespace (infra/k8s/gateway.yaml, infra/namespace.yaml).
	secretName = "ticketing-tls"
	namespace  = "ticketing"

	caValidity = 10 * 365 * 24 * time.Hour
	// 397 days: the longest validity browsers accept for a server
	// certificate (Apple's platforms refuse longer ones even from a CA the
	// user added).
	certValidity = 397 * 24 * time.Hour
	// A CA this close to its end cannot issue a certificate worth having.
	caRenewal = 30 * 24 * time.Hour
)

func main() {
	dir := flag.String("dir", filepath.Join("infra", ".tls"), "the directory that keeps the CA and the certificate (private keys included)")
	host := flag.String("host", "ticketing.dev", "the site's host name")
	flag.Parse()
	if err := run(*dir, *host, time.Now(), os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "tls:", err)
		os.Exit(1)
	}
}

func run(dir, host string, now time.Time, out io.Writer) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	ca, caKey, made, err := loadOrMakeCA(dir, host, now)
	if err != nil {
		return err
	}
	cert, key, err := issue(ca, caKey, host, now)
	if err != nil {
		return err
	}
	if err := writePEM(filepath.Join(dir, keyFile), 0o600, "PRIVATE KEY", key); err != nil {
		return err
	}
	if err := writePEM(filepath.Join(dir, certFile), 0o644, "CERTIFICATE", cert.Raw); err != nil {
		return err
	}
	return instructions(out, dir, host, made, cert.NotAfter)
}

// loadOrMakeCA returns the CA kept in dir, or makes one there when dir has
// none (made is then true). Half a CA (a certificate without its key, or a
// key that is not the certificate's) is an error, never replaced: browsers
// may trust that certificate already.
func loadOrMakeCA(dir, host string, now time.Time) (ca *x509.Certificate, key crypto.Signer, made bool, err error) {
	certPath, keyPath := filepath.Join(dir, caCertFile), filepath.Join(dir, caKeyFile)
	certPEM, certErr := os.ReadFile(certPath)
	keyPEM, keyErr := os.ReadFile(keyPath)
	if errors.Is(certErr, fs.ErrNotExist) && errors.Is(keyErr, fs.ErrNotExist) {
		ca, key, err := makeCA(host, now)
		if err != nil {
			return nil, nil, false, err
		}
		der, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			return nil, nil, false, err
		}
		if err := writePEM(keyPath, 0o600, "PRIVATE KEY", der); err != nil {
			return nil, nil, false, err
		}
		return ca, key, true, writePEM(certPath, 0o644, "CERTIFICATE", ca.Raw)
	}
	if err := errors.Join(certErr, keyErr); err != nil {
		return nil, nil, false, fmt.Errorf("%w (a CA needs both %s and %s; delete %s to make a new one, then trust that one instead)", err, caCertFile, caKeyFile, dir)
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, nil, false, fmt.Errorf("the CA in %s: %w", dir, err)
	}
	ca, err = x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return nil, nil, false, err
	}
	key, ok := pair.PrivateKey.(crypto.Signer)
	if !ok || !ca.IsCA {
		return nil, nil, false, fmt.Errorf("%s is not a CA's certificate and key", dir)
	}
	if ca.NotAfter.Before(now.Add(caRenewal)) {
		return nil, nil, false, fmt.Errorf("the CA in %s expires on %s: delete %s and run again, then trust the new CA", dir, ca.NotAfter.Format(time.DateOnly), dir)
	}
	return ca, key, false, nil
}

func makeCA(host string, now time.Time) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	serial, err := serialNumber()
	if err != nil {
		return nil, nil, err
	}
	template := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{Organization: []string{"ticketing development"}, CommonName: host + " development CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(caValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
		// Whoever gets hold of the key can sign for host and its
		// subdomains, and for no IP address.
		PermittedDNSDomainsCritical: true,
		PermittedDNSDomains:         []string{host},
		ExcludedIPRanges: []*net.IPNet{
			{IP: net.IPv4zero.To4(), Mask: net.CIDRMask(0, 32)},
			{IP: net.IPv6zero, Mask: net.CIDRMask(0, 128)},
		},
	}
	der, err := x509.CreateCertificate(rand.Reader, template, template, key.Public(), key)
	if err != nil {
		return nil, nil, err
	}
	ca, err := x509.ParseCertificate(der)
	return ca, key, err
}

// issue makes a key and a server certificate for host signed by the CA,
// and checks that the CA's own rules accept it, as a browser would.
func issue(ca *x509.Certificate, caKey crypto.Signer, host string, now time.Time) (*x509.Certificate, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	serial, err := serialNumber()
	if err != nil {
		return nil, nil, err
	}
	notAfter := now.Add(certValidity)
	if ca.NotAfter.Before(notAfter) {
		notAfter = ca.NotAfter
	}
	template := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: host},
		DNSNames:     []string{host},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, template, ca, key.Public(), caKey)
	if err != nil {
		return nil, nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, err
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	if _, err := cert.Verify(x509.VerifyOptions{DNSName: host, Roots: roots, CurrentTime: now}); err != nil {
		return nil, nil, fmt.Errorf("the CA cannot vouch for %s: %w", host, err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	return cert, keyDER, err
}

func serialNumber() (*big.Int, error) {
	return rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
}

// writePEM replaces path with one PEM block, with mode perm from its first
// byte (a key is never readable by others, even for a moment).
func writePEM(path string, perm fs.FileMode, blockType string, der []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if err := f.Chmod(perm); err != nil {
		f.Close()
		return err
	}
	if err := pem.Encode(f, &pem.Block{Type: blockType, Bytes: der}); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

func instructions(out io.Writer, dir, host string, made bool, until time.Time) error {
	at := func(name string) string { return filepath.Join(dir, name) }
	ca := "kept: a browser that trusts it trusts the new certificate"
	if made {
		ca = "new: trust it once, as below"
	}
	_, err := fmt.Fprintf(out, `CA:          %[1]s (%[2]s)
Certificate: %[3]s and its key %[4]s, for %[5]s, until %[6]s

Put the certificate in the cluster (again after each run; the edge picks it up):

  kubectl -n %[7]s create secret generic %[8]s --type=kubernetes.io/tls \
    --from-file=tls.crt=%[3]s --from-file=tls.key=%[4]s --from-file=ca.crt=%[1]s \
    --dry-run=client -o yaml | kubectl apply -f -

Trust the CA on this machine, once (it can vouch for %[5]s only):

  Debian, Ubuntu (curl, Go, most programs):
    sudo cp %[1]s /usr/local/share/ca-certificates/ticketing-dev-ca.crt && sudo update-ca-certificates
  Chrome, Chromium on Linux (their own store; certutil is in libnss3-tools):
    certutil -d sql:$HOME/.pki/nssdb -A -t C,, -n ticketing-dev-ca -i %[1]s
  Firefox, everywhere (its own store): Settings, Privacy & Security, Certificates,
    View Certificates, Authorities, Import %[1]s, trust it to identify websites
  macOS (Safari, Chrome):
    sudo security add-trusted-cert -d -r trustRoot -k /Library/Keychains/System.keychain %[1]s
  Windows (Edge, Chrome), as administrator:
    certutil -addstore -f ROOT %[1]s

Then restart the browser.
`, at(caCertFile), ca, at(certFile), at(keyFile), host, until.Format(time.DateOnly), namespace, secretName)
	return err
}
