package main_test

import (
	"io"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestStartsWhileSRVNameDoesNotResolve: with a mongodb+srv:// URI whose DNS records cannot be looked up
// (a name under .invalid never resolves; without network the lookup fails or hangs), careflow starts, is
// not ready and answers 503 with Retry-After — the store resolves the name in the background, again at
// every attempt to open, so it opens once DNS answers. A mongodb+srv:// URI that is wrong in itself still
// refuses the start, with the reason and without a lookup.
func TestStartsWhileSRVNameDoesNotResolve(t *testing.T) {
	addr, logs := startRaw(t, freePort(t), "--database", "mongodb+srv://cluster0.careflow.invalid/careflow", "--db-timeout", "1s")
	get := func(path string) (*http.Response, string) {
		t.Helper()
		res, err := (&http.Client{Timeout: 30 * time.Second}).Get("http://" + addr + path)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		defer res.Body.Close()
		body, _ := io.ReadAll(res.Body)
		return res, string(body)
	}
	if res, _ := get("/readyz"); res.StatusCode != 503 {
		t.Errorf("/readyz %d, want 503 while the database's name does not resolve", res.StatusCode)
	}
	res, body := get("/fhir/Patient/x")
	if res.StatusCode != 503 || res.Header.Get("Retry-After") == "" || !strings.Contains(body, `"code":"transient"`) {
		t.Errorf("GET %d, Retry-After %q: %s", res.StatusCode, res.Header.Get("Retry-After"), body)
	}
	if strings.Contains(logs.String(), "invalid URI") {
		t.Errorf("a name that does not resolve is logged as an invalid URI:\n%s", logs.String())
	}

	cmd := exec.Command(binary(t), "serve", "--addr", "127.0.0.1:0", "--database", "mongodb+srv://cluster0.careflow.invalid:27017/")
	cmd.Dir = t.TempDir()
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "no port number") {
		t.Errorf("serve with a port in a mongodb+srv:// URI: %v, output %q; want a refusal naming the port", err, out)
	}
}
