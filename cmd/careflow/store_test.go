package main

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestCheckMongoURI: at start a MongoDB URI is checked for its syntax only — a mongodb+srv:// URI without
// resolving its host (its DNS may fail or hang while careflow must start and answer 503) — and a bad one
// is a clear error. Names under .invalid never resolve (RFC 6761), so a check that looked them up would
// refuse the valid ones.
func TestCheckMongoURI(t *testing.T) {
	for _, tc := range []struct {
		uri, want string // want: "" for a valid URI, else part of the error
	}{
		{"mongodb://127.0.0.1:27017/", ""},
		{"mongodb://a.invalid,b.invalid:27018/careflow?replicaSet=rs0", ""},
		{"mongodb+srv://cluster0.careflow.invalid/", ""},
		{"mongodb+srv://user:p%40ss@cluster0.careflow.invalid/careflow?retryWrites=true&w=majority", ""},
		{"mongodb+srv://cluster0.careflow.invalid/?srvServiceName=mdb&srvMaxHosts=2", ""},
		{"mongodb+srv://cluster0.careflow.invalid/?SRVMAXHOSTS=0&replicaSet=rs0", ""},
		{"mongodb://127.0.0.1:27017/?srvMaxHosts=2", "srvMaxHosts on non-SRV URI"},
		{"mongodb://", "must have at least 1 host"},
		{"mongodb+srv://", "must have at least 1 host"},
		{"mongodb+srv://cluster0.careflow.invalid:27017/", "no port number"},
		{"mongodb+srv://a.careflow.invalid,b.careflow.invalid/", "one host name, not 2"},
		{"mongodb+srv://cluster0.careflow.invalid/?connectTimeoutMS=abc", `invalid value for "connectTimeoutMS"`},
		{"mongodb+srv://cluster0.careflow.invalid/?directConnection=true", "direct connection"},
		{"mongodb+srv://cluster0.careflow.invalid/?srvMaxHosts=-1", "srvMaxHosts"},
		{"mongodb+srv://cluster0.careflow.invalid/?srvServiceName=", "srvServiceName"},
		{"mongodb+srv://cluster0.careflow.invalid/?srvMaxHosts=2&replicaSet=rs0", "srvMaxHosts cannot be a positive value"},
		{"mongodb+srv://cluster0.careflow.invalid/?authMechanism=NOPE", "auth mechanism"},
	} {
		err := checkMongoURI(tc.uri)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v, want valid", tc.uri, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: %v, want an error saying %q", tc.uri, err, tc.want)
		}
	}
}

// TestOpenContext: opening the embedded store is not bounded in time (an upgrade of a large file's layout
// runs as long as it needs; a bound would roll it back at every start); opening MongoDB is, to 60 s.
func TestOpenContext(t *testing.T) {
	ctx, cancel := openContext(context.Background(), "sqlite:careflow-data/careflow.db")
	defer cancel()
	if d, ok := ctx.Deadline(); ok {
		t.Errorf("the embedded store's open has a deadline (%v)", d)
	}
	ctx, cancel = openContext(context.Background(), "mongodb://127.0.0.1:27017/careflow")
	defer cancel()
	if d, ok := ctx.Deadline(); !ok || time.Until(d) > 60*time.Second || time.Until(d) < 50*time.Second {
		t.Errorf("MongoDB's open: deadline %v (%v), want in 60 s", d, ok)
	}
	parent, stop := context.WithCancel(context.Background())
	ctx, cancel = openContext(parent, "sqlite:x.db")
	defer cancel()
	stop()
	if ctx.Err() == nil {
		t.Error("the embedded store's open outlives its parent (a shutdown during an upgrade must stop it)")
	}
}
