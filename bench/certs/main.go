// Command certs writes the throwaway PKI that bench/run.sh gives every broker
// and the load generator: a root CA, one server certificate for 127.0.0.1 and
// localhost, and one client certificate, all ECDSA P-256. The same files are
// used for thingcore, mosquitto and nats-server so that every broker does the
// same handshake work.
//
// Usage: certs -dir bench/out/pki
//
// It writes ca.pem, server.pem, server.key, client.pem and client.key. The
// keys are for benchmarking on loopback only and are valid for 24 hours.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/thingcore/thingcore/internal/testcert"
)

func main() {
	dir := flag.String("dir", "bench/out/pki", "directory to write the PEM files to (created if missing)")
	flag.Parse()
	if err := run(*dir); err != nil {
		fmt.Fprintln(os.Stderr, "certs:", err)
		os.Exit(1)
	}
}

func run(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	ca, err := testcert.NewCAErr()
	if err != nil {
		return err
	}
	if err := os.WriteFile(dir+"/ca.pem", ca.CertPEM, 0o644); err != nil {
		return fmt.Errorf("write ca: %w", err)
	}
	server, err := ca.Issue(testcert.KeyEC, true, "", "localhost", "127.0.0.1")
	if err != nil {
		return err
	}
	if _, _, err := testcert.WriteFilesErr(dir, "server", server); err != nil {
		return err
	}
	client, err := ca.Issue(testcert.KeyEC, false, "bench-device")
	if err != nil {
		return err
	}
	if _, _, err := testcert.WriteFilesErr(dir, "client", client); err != nil {
		return err
	}
	return nil
}
