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

	"go.mongodb.org/mongo-driver/v2/bson"

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

// TestSIGKILLMidTransaction kills a process with SIGKILL in the middle of a transaction (after its claims,
// after its commit point, half-way through publishing) and checks that readers never see part of it and
// that it is settled as soon as someone meets it: by a restarted instance at Open ("restart"), or by the
// readers and writers of another instance that meet it ("reader"). The transaction timeout is an hour
// throughout: what is settled is settled because the owner is known gone (its process no longer runs on
// this host, lease.go), not because it timed out.
func TestSIGKILLMidTransaction(t *testing.T) {
	for _, tc := range []struct {
		at        storagetest.CrashPoint
		committed bool
	}{{storagetest.CrashAfterClaims, false}, {storagetest.CrashAfterCommit, true}, {storagetest.CrashMidPublish, true}} {
		for _, settler := range []string{"restart", "reader"} {
			t.Run(string(tc.at)+"/"+settler, func(t *testing.T) {
				ctx := context.Background()
				s := mongotest.OpenWith(t, mongo.Options{Types: storagetest.Types, TxTimeout: time.Hour, RecoveryInterval: -1})
				f := storagetest.SeedCrash(t, s)
				killChild(t, s, tc.at)

				// What the kill left in the database: unsettled, half published when killed mid-publish.
				if n := count(t, s, "transactions", bson.D{}); n != 1 {
					t.Fatalf("%d intents after the kill, want the dead transaction's", n)
				}
				if tc.at == storagetest.CrashMidPublish {
					if n := count(t, s, "Appointment", bson.D{{Key: "_id", Value: "crash-appt-new"}, {Key: "vid", Value: int64(1)}}); n != 1 {
						t.Error("the child should have published the new appointment")
					}
					if n := count(t, s, "Patient", bson.D{{Key: "_id", Value: "crash-new"}, {Key: "vid", Value: int64(0)}}); n != 1 {
						t.Error("the child should not have published the new patient")
					}
				}

				switch settler {
				case "restart":
					// A new store on the same database settles it while it opens: no wait, no recovery pass.
					recovered := mongotest.Reopen(t, s.Database().Name(), mongo.Options{Types: storagetest.Types, TxTimeout: time.Hour, RecoveryInterval: -1})
					expectNoMarks(t, recovered)
					if tc.committed {
						f.ExpectAll(t, recovered)
					} else {
						f.ExpectNone(t, recovered, "after the restart")
					}
					expectNoTransactionLeftovers(t, recovered)
				case "reader":
					if tc.committed {
						// Readers see all of it at once; meeting it, they roll it forward (its owner is gone).
						f.ExpectReads(t, s, true, "after the kill")
						expectNoMarks(t, s)
						f.ExpectAll(t, s)
					} else {
						f.ExpectNone(t, s, "after the kill")
						// A writer it blocks rolls it back at once and proceeds.
						if _, err := s.Transact(ctx, storagetest.CrashOps()); err != nil {
							t.Fatalf("the same transaction after the kill: %v", err)
						}
						f.ExpectAll(t, s)
					}
					expectNoTransactionLeftovers(t, s)
				}
			})
		}
	}
}

// expectNoMarks: no marked claim or current-version document, no placeholder remains (the intent of a
// settled transaction may still linger).
func expectNoMarks(t *testing.T, s *mongo.Store) {
	t.Helper()
	marked := bson.D{{Key: "tx", Value: bson.D{{Key: "$exists", Value: true}}}}
	if n := count(t, s, "history", marked); n != 0 {
		t.Errorf("%d marked claims remain", n)
	}
	for _, typ := range storagetest.Types {
		if n := count(t, s, typ, marked); n != 0 {
			t.Errorf("%d marked %s documents remain", n, typ)
		}
	}
}

// killChild runs the transaction of the crash fixture in a child process (TestSIGKILLChild) on the
// database of s, and kills it with SIGKILL at the crash point.
func killChild(t *testing.T, s *mongo.Store, at storagetest.CrashPoint) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestSIGKILLChild$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), childDBEnv+"="+s.Database().Name(), childAtEnv+"="+string(at), "CAREFLOW_TEST_MONGODB_URI="+mongotest.URI())
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
		TxTimeout: time.Hour, RecoveryInterval: -1, Hooks: hooks})
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Transact(context.Background(), storagetest.CrashOps())
	t.Fatalf("the transaction ended without being killed: %v", err)
}
