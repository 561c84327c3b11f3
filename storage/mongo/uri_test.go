package mongo_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/careflow/careflow/storage/mongo"
	"github.com/careflow/careflow/storage/storagetest"
)

// TestOpenSRVNameThatDoesNotResolve: Open of a mongodb+srv:// URI whose name does not resolve (.invalid
// never does) fails as a lookup that failed, not as an invalid URI, and within its context even when the
// DNS server does not answer (the driver's lookups take no context). No database is needed.
func TestOpenSRVNameThatDoesNotResolve(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	start := time.Now()
	_, err := mongo.Open(ctx, mongo.Options{URI: "mongodb+srv://cluster0.careflow.invalid/careflow", Types: storagetest.Types})
	if err == nil || !strings.Contains(err.Error(), "resolve the hosts of the mongodb+srv:// URI") {
		t.Fatalf("Open: %v, want a failed lookup", err)
	}
	if took := time.Since(start); took > 30*time.Second {
		t.Errorf("Open returned after %s with a context of 3s", took)
	}
}
