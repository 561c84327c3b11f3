package sqlite_test

import (
	"testing"

	"github.com/careflow/careflow/storage"
	"github.com/careflow/careflow/storage/sqlite"
	"github.com/careflow/careflow/storage/sqlite/sqlitetest"
	"github.com/careflow/careflow/storage/storagetest"
)

// TestIsolation: a transaction paused before its commit (after its first op, after its last) or right
// after it is seen whole or not at all by every reader.
func TestIsolation(t *testing.T) {
	storagetest.RunIsolation(t, storagetest.Isolation{Open: func(t *testing.T, h storagetest.IsolationHooks) storage.Store {
		return sqlitetest.OpenWith(t, sqlite.Options{Hooks: sqlite.Hooks{
			AfterTxOp: func(i int) {
				if i == 0 {
					h.Pause(storagetest.CrashMidPublish)
				}
			},
			BeforeCommit: func(int) error { h.Pause(storagetest.CrashAfterClaims); return nil },
			AfterCommit:  func(int) { h.Pause(storagetest.CrashAfterCommit) },
		}})
	}})
}
