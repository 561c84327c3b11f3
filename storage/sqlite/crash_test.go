package sqlite_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/careflow/careflow/storage"
	"github.com/careflow/careflow/storage/sqlite"
	"github.com/careflow/careflow/storage/sqlite/sqlitetest"
)

// The SIGKILL test re-runs this test binary as a child (TestSIGKILLChild) that commits large transactions
// in a loop on a database file and reports each commit; the parent kills it with SIGKILL at a random
// moment, reopens the file and checks that every transaction is there whole or not at all, and that every
// reported one is there.
const (
	childPathEnv  = "CAREFLOW_SQLITE_CHILD_PATH"
	childRoundEnv = "CAREFLOW_SQLITE_CHILD_ROUND"
	bundleSize    = 300
)

func bundleIDs(round, bundle int) []string {
	ids := make([]string, bundleSize)
	for i := range ids {
		ids[i] = fmt.Sprintf("r%d-b%d-%d", round, bundle, i)
	}
	return ids
}

func TestSIGKILLMidTransaction(t *testing.T) {
	path := filepath.Join(t.TempDir(), "crash.db")
	for round := 0; round < 4; round++ {
		cmd := exec.Command(os.Args[0], "-test.run=^TestSIGKILLChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), childPathEnv+"="+path, childRoundEnv+"="+strconv.Itoa(round))
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		reported := 0
		sc := bufio.NewScanner(out)
		want := 2 + rand.IntN(4)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "committed ") {
				reported++
			}
			if reported == want {
				// Somewhere in the next transaction (each takes milliseconds).
				time.Sleep(time.Duration(rand.IntN(3000)) * time.Microsecond)
				break
			}
		}
		_ = cmd.Process.Kill() // SIGKILL
		_ = cmd.Wait()
		if reported < want {
			t.Fatalf("round %d: the child reported %d commits before it ended, want %d", round, reported, want)
		}

		s := sqlitetest.OpenWith(t, sqlite.Options{Path: path})
		ctx := context.Background()
		present := 0
		for b := 0; ; b++ {
			got, err := s.Exists(ctx, "Patient", bundleIDs(round, b))
			if err != nil {
				t.Fatal(err)
			}
			if len(got) == 0 {
				break
			}
			if len(got) != bundleSize {
				t.Fatalf("round %d: transaction %d is half there after SIGKILL: %d of %d resources", round, b, len(got), bundleSize)
			}
			present++
		}
		if present < reported || present > reported+1 {
			t.Fatalf("round %d: %d transactions present, %d were acknowledged", round, present, reported)
		}
		// The tally each transaction updates agrees with the transactions present.
		tally, err := s.Read(ctx, "Patient", "tally")
		if err != nil {
			t.Fatal(err)
		}
		if int(tally.VersionID) != committedBefore(t, s, round)+present {
			t.Fatalf("round %d: tally at version %d, want %d", round, tally.VersionID, committedBefore(t, s, round)+present)
		}
		if err := s.Close(ctx); err != nil {
			t.Fatal(err)
		}
	}
}

// committedBefore counts the transactions of earlier rounds present in s.
func committedBefore(t *testing.T, s storage.Store, round int) int {
	t.Helper()
	n := 0
	for r := 0; r < round; r++ {
		for b := 0; ; b++ {
			got, err := s.Exists(context.Background(), "Patient", bundleIDs(r, b)[:1])
			if err != nil {
				t.Fatal(err)
			}
			if len(got) == 0 {
				break
			}
			n++
		}
	}
	return n
}

// TestSIGKILLChild is the child of TestSIGKILLMidTransaction; it does nothing in a normal run.
func TestSIGKILLChild(t *testing.T) {
	path := os.Getenv(childPathEnv)
	if path == "" {
		t.Skip("child of TestSIGKILLMidTransaction")
	}
	round, _ := strconv.Atoi(os.Getenv(childRoundEnv))
	s, err := sqlite.Open(context.Background(), sqlite.Options{Path: path, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for b := 0; ; b++ {
		var ops []storage.TxOp
		for _, id := range bundleIDs(round, b) {
			ops = append(ops, storage.TxOp{Kind: storage.TxCreate, Write: storage.Write{Type: "Patient", ID: id,
				Body:  []byte(`{"resourceType":"Patient","name":[{"family":"` + id + `","given":["Crash","Test"]}],"birthDate":"1970-01-01"}`),
				Index: map[string]any{"s_family": []string{id}, "s_birthdate_lo": time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC), "s_birthdate_hi": time.Date(1970, 1, 2, 0, 0, 0, 0, time.UTC)}}})
		}
		ops = append(ops, storage.TxOp{Kind: storage.TxUpdate, Write: storage.Write{Type: "Patient", ID: "tally", Body: []byte(`{"resourceType":"Patient"}`)}})
		if _, err := s.Transact(ctx, ops); err != nil {
			var txErr *storage.TxError
			if errors.As(err, &txErr) {
				t.Fatalf("transaction %d: %v", b, err)
			}
			t.Fatal(err)
		}
		fmt.Printf("committed %d\n", b)
	}
}
