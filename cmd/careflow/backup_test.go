package main_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/careflow/careflow/storage"
	"github.com/careflow/careflow/storage/sqlite"
)

// TestBackupCommand: careflow backup copies the file of a careflow server that is running and serving
// (another process), and the copy opens with what the server had acknowledged; the command refuses a
// MongoDB setting, a missing --to, stray arguments and an existing file with a clear error.
func TestBackupCommand(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "careflow.db")
	addr, _, logs := startServerOn(t, "sqlite:"+path)
	for i := range 5 {
		res, err := http.Post("http://"+addr+"/fhir/Patient", "application/fhir+json",
			strings.NewReader(fmt.Sprintf(`{"resourceType":"Patient","name":[{"family":"Backup%d"}]}`, i)))
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusCreated {
			t.Fatalf("create: %s\n%s", res.Status, logs.String())
		}
	}
	backup := func(args ...string) (string, error) {
		out, err := exec.Command(binary(t), append([]string{"backup"}, args...)...).CombinedOutput()
		return string(out), err
	}
	dest := filepath.Join(dir, "backup.db")
	out, err := backup("--database", "sqlite:"+path, "--to", dest)
	if err != nil {
		t.Fatalf("backup: %v\n%s", err, out)
	}
	if want := path + " → " + dest + ": 5 resources, 5 versions, "; !strings.HasPrefix(out, want) {
		t.Errorf("output %q, want it to start with %q", out, want)
	}
	res, err := http.Get("http://" + addr + "/readyz")
	if err != nil || res.StatusCode != http.StatusOK {
		t.Errorf("the server after the backup: %v %v", res, err)
	}
	if res != nil {
		res.Body.Close()
	}
	s, err := sqlite.Open(ctx, sqlite.Options{Path: dest, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(ctx)
	if h, err := s.History(ctx, storage.HistoryQuery{Type: "Patient", Count: 50}); err != nil || len(h.Versions) != 5 {
		t.Errorf("the backup's Patient history: %v (%v), want 5 versions", h, err)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--database", "mongodb://127.0.0.1:27017/careflow", "--to", filepath.Join(dir, "m.db")}, "not the embedded store"},
		{[]string{"--database", "sqlite:" + path}, "--to FILE is required"},
		{[]string{"--database", "sqlite:" + path, "--to", filepath.Join(dir, "x.db"), "extra"}, "unexpected arguments"},
		{[]string{"--database", "sqlite:" + path, "--to", dest}, "never overwrites"},
	} {
		if out, err := backup(c.args...); err == nil || !strings.Contains(out, c.want) {
			t.Errorf("backup %q: %v\n%s\nwant an error saying %q", c.args, err, out, c.want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "x.db")); err == nil {
		t.Error("a refused backup wrote its file")
	}
}
