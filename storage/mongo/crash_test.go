package mongo_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/careflow/careflow/storage"
	"github.com/careflow/careflow/storage/mongo"
	"github.com/careflow/careflow/storage/mongo/mongotest"
	"github.com/careflow/careflow/storage/storagetest"
)

// The SIGKILL test re-runs this test binary as a child process (TestSIGKILLChild) that runs a transaction
// and stops at a crash point; the parent kills it there with SIGKILL and checks what a restarted store
// makes of the database.
const (
	childDBEnv = "CAREFLOW_TX_CHILD_DB"
	childAtEnv = "CAREFLOW_TX_CHILD_AT"
	childReady = "CAREFLOW-TX-CHILD-STOPPED"
)

func TestSIGKILLMidTransaction(t *testing.T) {
	for _, tc := range []struct {
		at        storagetest.CrashPoint
		committed bool
	}{{storagetest.CrashAfterClaims, false}, {storagetest.CrashAfterCommit, true}, {storagetest.CrashMidPublish, true}} {
		t.Run(string(tc.at), func(t *testing.T) {
			ctx := context.Background()
			s := mongotest.OpenWith(t, mongo.Options{Types: storagetest.Types, TxTimeout: crashTimeout, RecoveryInterval: -1})
			f := storagetest.SeedCrash(t, s)

			cmd := exec.Command(os.Args[0], "-test.run=^TestSIGKILLChild$", "-test.v", "-test.count=1")
			cmd.Env = append(os.Environ(), childDBEnv+"="+s.Database().Name(), childAtEnv+"="+string(tc.at), "CAREFLOW_TEST_MONGODB_URI="+mongotest.URI())
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			cmd.Stderr = os.Stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			stopped := make(chan bool, 1)
			var lines []string
			go func() {
				sc := bufio.NewScanner(out)
				for sc.Scan() {
					lines = append(lines, sc.Text())
					if strings.Contains(sc.Text(), childReady) {
						stopped <- true
					}
				}
				close(stopped)
			}()
			select {
			case ok := <-stopped:
				if !ok {
					_ = cmd.Wait()
					t.Fatalf("the child ended before the crash point:\n%s", strings.Join(lines, "\n"))
				}
			case <-time.After(2 * time.Minute):
				_ = cmd.Process.Kill()
				t.Fatal("the child did not reach the crash point")
			}
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			for range stopped { // the pipe ends with the process
			}
			err = cmd.Wait()
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
				t.Fatalf("the child was not killed by SIGKILL: %v", err)
			}

			// What the kill left, seen by a store that does not recover yet.
			switch tc.at {
			case storagetest.CrashAfterClaims, storagetest.CrashAfterCommit:
				if _, err := s.Read(ctx, "Appointment", "crash-appt-new"); !errors.Is(err, storage.ErrNotFound) {
					t.Errorf("before recovery: read of the new appointment: %v", err)
				}
			case storagetest.CrashMidPublish:
				// Half applied: the appointments are published, the patients are not.
				if v, err := s.Read(ctx, "Appointment", "crash-appt-new"); err != nil || v.VersionID != 1 {
					t.Errorf("before recovery: the new appointment: %+v %v (the child should have published it)", v, err)
				}
				if _, err := s.Read(ctx, "Patient", "crash-new"); !errors.Is(err, storage.ErrNotFound) {
					t.Errorf("before recovery: the new patient: %v (the child should not have published it)", err)
				}
			}
			if !tc.committed {
				f.ExpectNone(t, s, "after the kill")
			}

			// Restart: a new store on the same database recovers.
			recovered := restart(t, s)
			if tc.committed {
				f.ExpectAll(t, recovered)
			} else {
				f.ExpectNone(t, recovered, "after recovery")
			}
			expectNoTransactionLeftovers(t, recovered.(*mongo.Store))
		})
	}
}

// TestSIGKILLChild is the child process of TestSIGKILLMidTransaction; it does nothing otherwise.
func TestSIGKILLChild(t *testing.T) {
	db, at := os.Getenv(childDBEnv), storagetest.CrashPoint(os.Getenv(childAtEnv))
	if db == "" {
		t.Skip("runs only as the child process of TestSIGKILLMidTransaction")
	}
	stop := func(ctx context.Context, txID string) error {
		fmt.Println(childReady, txID)
		time.Sleep(time.Hour) // until SIGKILL
		return nil
	}
	var hooks mongo.Hooks
	switch at {
	case storagetest.CrashAfterClaims:
		hooks.AfterClaims = stop
	case storagetest.CrashAfterCommit:
		hooks.AfterCommit = stop
	case storagetest.CrashMidPublish:
		hooks.AfterPublish = func(ctx context.Context, txID, typ string) error { return stop(ctx, txID) }
	default:
		t.Fatalf("unknown crash point %q", at)
	}
	s, err := mongo.Open(context.Background(), mongo.Options{URI: mongotest.URI(), DefaultDatabase: db, Types: storagetest.Types,
		TxTimeout: crashTimeout, RecoveryInterval: -1, Hooks: hooks})
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Transact(context.Background(), storagetest.CrashOps())
	t.Fatalf("the transaction ended without being killed: %v", err)
}
