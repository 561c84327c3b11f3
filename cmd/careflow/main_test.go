package main_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// syncBuffer collects the server's log lines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func freePort(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// buildBinary builds careflow once per test binary.
var buildBinary = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "careflow-bin")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "careflow")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Stderr = os.Stderr
	return bin, build.Run()
})

func binary(t *testing.T) string {
	t.Helper()
	bin, err := buildBinary()
	if err != nil {
		t.Fatalf("build: %v", err)
	}
	return bin
}

// startServer runs the careflow binary on a fresh embedded database (sqlite:PATH in the test's directory);
// it returns the database setting too.
func startServer(t *testing.T) (addr string, cmd *exec.Cmd, logs *syncBuffer) {
	t.Helper()
	return startServerOn(t, "sqlite:"+filepath.Join(t.TempDir(), "data", "careflow.db"))
}

func startServerOn(t *testing.T, db string, extra ...string) (addr string, cmd *exec.Cmd, logs *syncBuffer) {
	t.Helper()
	bin := binary(t)
	addr = freePort(t)
	logs = &syncBuffer{}
	cmd = exec.Command(bin, append([]string{"serve", "--addr", addr, "--database", db, "--log-level", "debug"}, extra...)...)
	cmd.Stderr = logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_, _ = cmd.Process.Wait()
	})
	// Poll without leaving idle keep-alive connections behind.
	noKeepAlive := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	deadline := time.Now().Add(60 * time.Second)
	for {
		res, err := noKeepAlive.Get("http://" + addr + "/readyz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("server not ready: %v\n%s", err, logs.String())
		}
		time.Sleep(50 * time.Millisecond) // polling a separate process for readiness
	}
	return addr, cmd, logs
}

// waitForLog waits until the server process has logged text (bounded).
func waitForLog(t *testing.T, logs *syncBuffer, text string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(logs.String(), text) {
		if time.Now().After(deadline) {
			t.Fatalf("server never logged %q:\n%s", text, logs.String())
		}
		time.Sleep(10 * time.Millisecond) // polling another process's output
	}
}

// TestGracefulShutdown: a request in flight when SIGTERM arrives completes; then the process exits 0
// and stops accepting connections.
func TestGracefulShutdown(t *testing.T) {
	addr, cmd, logs := startServer(t)
	pr, pw := io.Pipe()
	req, _ := http.NewRequest("POST", "http://"+addr+"/fhir/Patient", pr)
	req.Header.Set("Content-Type", "application/fhir+json")
	req.Header.Set("X-Request-Id", "shutdown-test")
	type result struct {
		status int
		err    error
	}
	done := make(chan result, 1)
	go func() {
		// A fresh connection: an idle keep-alive one would rightly be closed by the shutdown.
		res, err := (&http.Client{Transport: &http.Transport{}}).Do(req)
		if err != nil {
			done <- result{err: err}
			return
		}
		res.Body.Close()
		done <- result{status: res.StatusCode}
	}()
	// Half of the body; once the server logs that the request started, its handler is waiting for the rest.
	if _, err := pw.Write([]byte(`{"resourceType":"Patient",`)); err != nil {
		t.Fatal(err)
	}
	waitForLog(t, logs, `"msg":"request started","method":"POST","path":"/fhir/Patient","request_id":"shutdown-test"`)
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// The server logs that it is shutting down before we finish the request.
	waitForLog(t, logs, "shutting down")
	if _, err := pw.Write([]byte(`"gender":"female"}`)); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	r := <-done
	if r.err != nil || r.status != http.StatusCreated {
		t.Fatalf("in-flight request: status %d, err %v\n%s", r.status, r.err, logs.String())
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit: %v\n%s", err, logs.String())
	}
	if _, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		t.Error("still accepting connections after shutdown")
	}
	// The request log line carries method, path, status, duration and request id.
	found := false
	sc := bufio.NewScanner(strings.NewReader(logs.String()))
	for sc.Scan() {
		var line map[string]any
		if json.Unmarshal(sc.Bytes(), &line) != nil || line["msg"] != "request" {
			continue
		}
		if line["request_id"] == "shutdown-test" && line["method"] == "POST" && line["path"] == "/fhir/Patient" &&
			line["status"] == float64(201) && line["duration"] != nil {
			found = true
		}
	}
	if !found {
		t.Errorf("no request log line for the request:\n%s", logs.String())
	}
}

// TestDatabaseSetting: the store named by --database is the one opened and logged; a second careflow on
// the same data file, and settings that name no store, fail at start with a clear message.
func TestDatabaseSetting(t *testing.T) {
	db := "sqlite:" + filepath.Join(t.TempDir(), "data", "careflow.db")
	_, _, logs := startServerOn(t, db)
	if !strings.Contains(logs.String(), `"msg":"storage: embedded SQLite store"`) {
		t.Errorf("the start-up log does not name the store:\n%s", logs.String())
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--database", db}, "in use by another careflow"},
		{[]string{"--database", "postgres://x"}, "want sqlite:PATH"},
		{[]string{"--database", "sqlite:"}, "names no file"},
		{[]string{"--database", "sqlite:a.db", "--mongodb-uri", "mongodb://127.0.0.1/x"}, "give one"},
	} {
		cmd := exec.Command(binary(t), append([]string{"serve", "--addr", freePort(t)}, tc.args...)...)
		cmd.Dir = t.TempDir()
		out, err := cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(out), tc.want) {
			t.Errorf("serve %v: %v, output %q; want a failure saying %q", tc.args, err, out, tc.want)
		}
	}
}
