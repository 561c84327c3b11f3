package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

// TestWireClient: requests and bodies arrive as sent, responses are read whole, each worker keeps its one
// connection across requests, a status other than the one wanted is an error naming the body, and a
// connection the server closes is dialled again.
func TestWireClient(t *testing.T) {
	var conns atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		switch {
		case r.URL.Path == "/fhir/Patient" && r.Method == http.MethodPost:
			if r.Header.Get("Content-Type") != "application/fhir+json" || string(body) != `{"resourceType":"Patient"}` {
				http.Error(w, "bad create", http.StatusBadRequest)
				return
			}
			w.Header().Set("Location", "Patient/abc/_history/1")
			w.WriteHeader(http.StatusCreated)
		case r.URL.Path == "/fhir/Patient/abc":
			w.Write([]byte(strings.Repeat("x", 50_000)))
		case r.URL.Path == "/fhir/Patient/bye":
			w.Header().Set("Connection", "close")
			w.Write([]byte("{}"))
		default:
			http.Error(w, "no such patient", http.StatusNotFound)
		}
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	c := newFHIRClient(srv.URL+"/fhir/", 2)
	if c.wire == nil {
		t.Fatal("no wire client for an http:// base")
	}
	defer c.wire.close()
	ctx := context.Background()
	id, err := c.create(ctx, 0, []byte(`{"resourceType":"Patient"}`))
	if err != nil || id != "abc" {
		t.Fatalf("create: %q, %v", id, err)
	}
	for range 5 {
		if err := c.read(ctx, 0, "abc"); err != nil {
			t.Fatal(err)
		}
		if err := c.read(ctx, 1, "abc"); err != nil {
			t.Fatal(err)
		}
	}
	if n := conns.Load(); n != 2 {
		t.Errorf("%d connections for 2 workers", n)
	}
	if err := c.read(ctx, 0, "nobody"); err == nil || !strings.Contains(err.Error(), "404") || !strings.Contains(err.Error(), "no such patient") {
		t.Errorf("read of a missing patient: %v", err)
	}
	if err := c.read(ctx, 1, "bye"); err != nil {
		t.Fatal(err)
	}
	if err := c.read(ctx, 1, "abc"); err != nil {
		t.Fatalf("after the server closed the connection: %v", err)
	}
	if n := conns.Load(); n != 3 {
		t.Errorf("%d connections; want 3 (worker 1 dialled again after Connection: close)", n)
	}
	if c := newFHIRClient("https://example.org/fhir", 1); c.wire != nil {
		t.Error("a wire client for an https:// base")
	}
}
