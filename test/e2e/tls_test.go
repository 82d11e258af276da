package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// selfSigned writes a certificate for 127.0.0.1/localhost and its key.
func selfSigned(t *testing.T, dir string) (certPath, keyPath string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "osprey-e2e"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA: true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	certPath, keyPath = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certPath, keyPath, pool
}

func TestTLSOnEveryListener(t *testing.T) {
	dir := t.TempDir()
	certPath, keyPath, pool := selfSigned(t, dir)
	httpAddr, grpcAddr, otlpAddr := freePort(t), freePort(t), freePort(t)
	srv := start(t, filepath.Join(dir, "server.log"),
		[]string{"OSPREY_ADMIN_PASSWORD=" + adminPassword, "OSPREY_PROJECT_KEY=" + projectKey},
		"osprey", "server", "--data-dir", filepath.Join(dir, "data"), "--http-addr", httpAddr,
		"--otlp-grpc-addr", grpcAddr, "--otlp-http-addr", otlpAddr, "--tls-cert", certPath, "--tls-key", keyPath)
	t.Cleanup(func() {
		if t.Failed() {
			b, _ := readFile(filepath.Join(dir, "server.log"))
			t.Logf("server log:\n%s", tail(b, 3000))
		}
	})
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	eventually(t, 60*time.Second, "HTTPS health", func() error {
		select {
		case <-srv.done:
			t.Fatal("server exited")
		default:
		}
		resp, err := client.Get("https://" + httpAddr + "/healthz")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		return nil
	})
	for _, addr := range []string{httpAddr, otlpAddr} {
		if resp, err := http.Get("http://" + addr + "/healthz"); err == nil {
			if resp.StatusCode < 400 {
				t.Errorf("plain HTTP to the TLS listener %s answered %d", addr, resp.StatusCode)
			}
			resp.Body.Close()
		}
	}

	start(t, filepath.Join(dir, "agent.log"), nil, "osprey-agent", "--server", grpcAddr, "--key", projectKey,
		"--name", "tls-host", "--state-dir", filepath.Join(dir, "agent"), "--interval", "1s", "--tls", "--tls-ca-file", certPath)
	eventually(t, 60*time.Second, "agent data over TLS, queried over HTTPS", func() error {
		req, _ := http.NewRequest("GET", "https://"+httpAddr+"/api/v1/query?"+url.Values{
			"query": {`system_memory_usage_bytes{osprey_agent_name="tls-host"}`}}.Encode(), nil)
		req.SetBasicAuth("admin", adminPassword)
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		var body struct {
			Data struct {
				Result []json.RawMessage `json:"result"`
			} `json:"data"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
			return err
		}
		if len(body.Data.Result) == 0 {
			b, _ := readFile(filepath.Join(dir, "agent.log"))
			return fmt.Errorf("no series yet; agent log: %s", tail(b, 500))
		}
		return nil
	})
}
