package main_test

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestAuditSurvivesSIGKILL: every request answered before careflow is killed has its AuditEvent after the
// restart, exactly once — the records were in the outbox before the answers, and the restart replays what
// was not shipped.
func TestAuditSurvivesSIGKILL(t *testing.T) {
	dir := t.TempDir()
	db := "sqlite:" + filepath.Join(dir, "careflow.db")
	outbox := filepath.Join(dir, "audit-outbox.log")
	// A ship interval of an hour: nothing reaches the store before the kill.
	addr, cmd, logs := startServerOn(t, db, "--audit", "on", "--audit-outbox", outbox, "--audit-ship-interval", "1h")
	base := "http://" + addr + "/fhir"
	put, _ := http.NewRequest(http.MethodPut, base+"/Patient/p-audit", strings.NewReader(`{"resourceType":"Patient","id":"p-audit"}`))
	put.Header.Set("Content-Type", "application/fhir+json")
	if res, err := http.DefaultClient.Do(put); err != nil || res.StatusCode != http.StatusCreated {
		t.Fatalf("PUT: %v %v", res, err)
	}
	const reads = 50
	for i := 0; i < reads; i++ {
		res, err := http.Get(base + "/Patient/p-audit")
		if err != nil || res.StatusCode != http.StatusOK {
			t.Fatalf("read %d: %v %v", i, res, err)
		}
		res.Body.Close()
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_, _ = cmd.Process.Wait()
	st, err := os.Stat(outbox)
	if err != nil || st.Size() == 0 {
		t.Fatalf("outbox after the kill: %v %v\n%s", st, err, logs.String())
	}
	if raw, err := os.ReadFile(outbox + ".shipped"); err == nil && string(raw) == strconv.FormatInt(st.Size(), 10) {
		t.Fatal("everything was shipped before the kill: the test does not exercise the replay")
	}

	addr, _, logs = startServerOn(t, db, "--audit", "on", "--audit-outbox", outbox)
	base = "http://" + addr + "/fhir"
	count := func() int {
		res, err := http.Get(base + "/AuditEvent?entity=Patient/p-audit&subtype=read&_summary=count")
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var b struct {
			Total int `json:"total"`
		}
		if err := json.NewDecoder(res.Body).Decode(&b); err != nil {
			t.Fatal(err)
		}
		return b.Total
	}
	deadline := time.Now().Add(30 * time.Second)
	for count() < reads {
		if time.Now().After(deadline) {
			t.Fatalf("after the restart %d of %d read AuditEvents are stored\n%s", count(), reads, logs.String())
		}
		time.Sleep(50 * time.Millisecond) // polling another process's shipper
	}
	if n := count(); n != reads {
		t.Errorf("%d read AuditEvents, want exactly %d (a replay duplicated some)", n, reads)
	}
	// The access log is read-only over the API.
	req, _ := http.NewRequest(http.MethodPost, base+"/AuditEvent", strings.NewReader(`{"resourceType":"AuditEvent"}`))
	req.Header.Set("Content-Type", "application/fhir+json")
	res, err := http.DefaultClient.Do(req)
	if err != nil || res.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST AuditEvent: %v %v", res, err)
	}
}
