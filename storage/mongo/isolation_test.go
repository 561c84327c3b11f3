package mongo_test

import (
	"context"
	"testing"

	"github.com/careflow/careflow/storage"
	"github.com/careflow/careflow/storage/mongo"
	"github.com/careflow/careflow/storage/mongo/mongotest"
	"github.com/careflow/careflow/storage/storagetest"
)

// TestIsolation: a transaction paused after its claims, after its commit point and half-way through
// publishing is seen whole or not at all by every reader.
func TestIsolation(t *testing.T) {
	storagetest.RunIsolation(t, storagetest.Isolation{Open: func(t *testing.T, h storagetest.IsolationHooks) storage.Store {
		return mongotest.OpenWith(t, mongo.Options{Types: storagetest.Types, RecoveryInterval: -1, Hooks: mongo.Hooks{
			AfterClaims: func(context.Context, string) error { h.Pause(storagetest.CrashAfterClaims); return nil },
			AfterCommit: func(context.Context, string) error { h.Pause(storagetest.CrashAfterCommit); return nil },
			AfterPublish: func(context.Context, string, string) error {
				h.Pause(storagetest.CrashMidPublish)
				return nil
			},
			ReaderWaits: func(context.Context, string) { h.ReaderWaits() },
		}})
	}})
}
