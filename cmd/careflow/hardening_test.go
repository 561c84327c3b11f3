package main_test

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/careflow/careflow/fhir/definitions"
	"github.com/careflow/careflow/storage/guard/guardtest"
	"github.com/careflow/careflow/storage/mongo"
	"github.com/careflow/careflow/storage/mongo/mongotest"
)

// startRaw runs careflow serve --addr addr with args and waits until it listens (not until it is
// ready); it returns the address to dial.
func startRaw(t *testing.T, addr string, args ...string) (string, *syncBuffer) {
	t.Helper()
	args = append([]string{"--addr", addr}, args...)
	_, port, _ := net.SplitHostPort(addr)
	addr = "127.0.0.1:" + port
	logs := &syncBuffer{}
	cmd := exec.Command(binary(t), append([]string{"serve", "--log-level", "debug"}, args...)...)
	cmd.Dir = t.TempDir() // relative defaults (the audit outbox under careflow-data/) stay out of the tree
	cmd.Stderr = logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_, _ = cmd.Process.Wait()
	})
	waitForLog(t, logs, `"msg":"careflow listening"`)
	// The log line precedes ListenAndServe by a moment: wait for the port (bounded).
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not listening on %s: %v\n%s", addr, err, logs.String())
		}
		time.Sleep(10 * time.Millisecond) // polling another process's socket
	}
	return addr, logs
}

func port(t *testing.T) string {
	_, p, _ := net.SplitHostPort(freePort(t))
	return p
}

// TestSecureDefaults: without authorization careflow refuses a non-loopback address unless
// --insecure-no-auth says so (and then warns at start); a wildcard CORS origin is refused.
func TestSecureDefaults(t *testing.T) {
	db := func() string { return "sqlite:" + filepath.Join(t.TempDir(), "careflow.db") }
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--addr", "0.0.0.0:0"}, "authorization is off"},
		{[]string{"--addr", ":0"}, "authorization is off"},
		{[]string{"--addr", "192.0.2.1:8080"}, "authorization is off"},
		{[]string{"--addr", "127.0.0.1:0", "--cors-origins", "*"}, "not an origin"},
		{[]string{"--addr", "127.0.0.1:0", "--write-timeout", "1s"}, "shorter than --search-timeout"},
	} {
		cmd := exec.Command(binary(t), append([]string{"serve", "--database", db()}, tc.args...)...)
		cmd.Env = append(cmd.Environ(), "CAREFLOW_AUTH_ISSUER=", "CAREFLOW_INSECURE_NO_AUTH=")
		out, err := cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(out), tc.want) {
			t.Errorf("serve %v: %v, output %q; want a refusal saying %q", tc.args, err, out, tc.want)
		}
	}
	// Allowed: loopback (the default), --insecure-no-auth (warned), or authorization configured.
	_, logs := startRaw(t, "localhost:"+port(t), "--database", db())
	if strings.Contains(logs.String(), "INSECURE") {
		t.Errorf("warned on loopback:\n%s", logs.String())
	}
	_, logs = startRaw(t, "0.0.0.0:"+port(t), "--database", db(), "--insecure-no-auth")
	if !strings.Contains(logs.String(), `"level":"WARN","msg":"INSECURE: authorization is off`) {
		t.Errorf("no warning with --insecure-no-auth on 0.0.0.0:\n%s", logs.String())
	}
	_, logs = startRaw(t, "0.0.0.0:"+port(t), "--database", db(), "--auth-issuer", "https://issuer.example.org")
	if strings.Contains(logs.String(), "INSECURE") {
		t.Errorf("warned with authorization configured:\n%s", logs.String())
	}
}

// TestSlowBodyCutOff: a client that sends its headers and then trickles its body is cut off at the read
// timeout instead of holding its connection for ever.
func TestSlowBodyCutOff(t *testing.T) {
	addr, _ := startRaw(t, freePort(t), "--database", "sqlite:"+filepath.Join(t.TempDir(), "careflow.db"), "--read-timeout", "1s")
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	if _, err := io.WriteString(conn, "POST /fhir/Patient HTTP/1.1\r\nHost: x\r\nContent-Type: application/fhir+json\r\nContent-Length: 1000\r\n\r\n{\"resourceType\":"); err != nil {
		t.Fatal(err)
	}
	// Trickle a byte now and then, never the whole body; the server must end the exchange.
	ended := make(chan error, 1)
	go func() {
		_, err := io.ReadAll(conn) // returns when the server closes the connection
		ended <- err
	}()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ended:
			if took := time.Since(start); took > 10*time.Second {
				t.Errorf("cut off after %s with a read timeout of 1s", took)
			}
			return
		case <-tick.C:
			if time.Since(start) > 30*time.Second {
				t.Fatal("the slow client still holds its connection after 30s (read timeout 1s)")
			}
			_, _ = io.WriteString(conn, " ")
		}
	}
}

// TestDatabaseDownAndBack: careflow starts while its MongoDB database is down (not ready, requests 503
// with Retry-After and a transient OperationOutcome, /readyz within 2 s), serves once it answers, answers
// 503 within the database timeout when it goes down again and recovers without a restart.
func TestDatabaseDownAndBack(t *testing.T) {
	mongotest.Require(t)
	target := strings.SplitN(strings.SplitN(strings.TrimPrefix(mongotest.URI(), "mongodb://"), "/", 2)[0], ",", 2)[0]
	p := guardtest.New(t, target)
	var b [6]byte
	_, _ = rand.Read(b[:])
	dbName := "down_" + hex.EncodeToString(b[:])
	t.Cleanup(func() {
		s := mongotest.Reopen(t, dbName, mongo.Options{Types: definitions.ResourceTypes})
		_ = s.Database().Drop(context.Background())
	})
	addr, logs := startRaw(t, freePort(t), "--database", "mongodb://"+p.Addr+"/"+dbName, "--db-timeout", "1s")
	base := "http://" + addr

	get := func(path string) (*http.Response, string, time.Duration) {
		t.Helper()
		start := time.Now()
		res, err := (&http.Client{Timeout: 30 * time.Second}).Get(base + path)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		defer res.Body.Close()
		body, _ := io.ReadAll(res.Body)
		return res, string(body), time.Since(start)
	}
	down := func(when string) {
		t.Helper()
		res, _, took := get("/readyz")
		if res.StatusCode != 503 || took > 2*time.Second+time.Second { // 2 s, with slack for a loaded machine
			t.Errorf("%s: /readyz %d after %s", when, res.StatusCode, took)
		}
		res, body, took := get("/fhir/Patient/x")
		if res.StatusCode != 503 || res.Header.Get("Retry-After") != "1" || !strings.Contains(body, `"code":"transient"`) {
			t.Errorf("%s: GET %d, Retry-After %q: %s", when, res.StatusCode, res.Header.Get("Retry-After"), body)
		}
		if took > 3*time.Second { // --db-timeout 1s (+ a ping of a fifth of it), with slack
			t.Errorf("%s: GET answered after %s with --db-timeout 1s", when, took)
		}
	}
	untilReady := func(when string) {
		t.Helper()
		deadline := time.Now().Add(90 * time.Second)
		for {
			if res, _, _ := get("/readyz"); res.StatusCode == 200 {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: not ready after 90s\n%s", when, logs.String())
			}
			time.Sleep(50 * time.Millisecond) // polling another process for readiness
		}
	}

	down("database down at start")
	p.Restore()
	untilReady("database up")
	res, err := http.Post(base+"/fhir/Patient", "application/fhir+json", strings.NewReader(`{"resourceType":"Patient"}`))
	if err != nil || res.StatusCode != 201 {
		t.Fatalf("create once up: %v %v", res, err)
	}
	loc := res.Header.Get("Location")
	res.Body.Close()
	id := strings.Split(strings.SplitN(loc, "/Patient/", 2)[1], "/")[0]

	p.Cut()
	down("database down again")
	p.Restore()
	untilReady("database back")
	if res, body, _ := get("/fhir/Patient/" + id); res.StatusCode != 200 {
		t.Errorf("read after the database came back: %d %s", res.StatusCode, body)
	}
	// The outage was logged.
	sc := bufio.NewScanner(strings.NewReader(logs.String()))
	found := false
	for sc.Scan() {
		if strings.Contains(sc.Text(), "the database does not answer") {
			found = true
		}
	}
	if !found {
		t.Errorf("the outage was not logged:\n%s", logs.String())
	}
}
