package guard_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/careflow/careflow/fhir/search"
	"github.com/careflow/careflow/storage"
)

// fill stores n Patients in transactions of 500.
func fill(t testing.TB, s storage.Store, reg *search.Registry, n int) {
	t.Helper()
	ctx := context.Background()
	var ops []storage.TxOp
	add := func(typ, id, body string) {
		var tree map[string]any
		if err := json.Unmarshal([]byte(body), &tree); err != nil {
			t.Fatal(err)
		}
		index, err := reg.Index(typ, tree)
		if err != nil {
			t.Fatal(err)
		}
		ops = append(ops, storage.TxOp{Kind: storage.TxUpdate, Write: storage.Write{Type: typ, ID: id, Body: []byte(body), Index: index}})
		if len(ops) == 500 {
			if _, err := s.Transact(ctx, ops); err != nil {
				t.Fatal(err)
			}
			ops = nil
		}
	}
	for i := 0; i < n; i++ {
		add("Patient", fmt.Sprintf("p%d", i), fmt.Sprintf(`{"resourceType":"Patient","id":"p%d","name":[{"family":"Family%d","given":["Given%d"]}],"birthDate":"19%02d-01-01"}`, i, i, i, i%100))
	}
	if len(ops) > 0 {
		if _, err := s.Transact(ctx, ops); err != nil {
			t.Fatal(err)
		}
	}
}

// slowQuery is a search whose cost grows with values × patients: Patient?name:contains= with n distinct
// values none of which matches, each a substring scan of every name.
func slowQuery(t testing.TB, reg *search.Registry, n int) *search.Query {
	t.Helper()
	vals := make([]string, n)
	for i := range vals {
		vals[i] = fmt.Sprintf("zq%d", i)
	}
	q, err := reg.Parse("Patient", url.Values{"name:contains": {strings.Join(vals, ",")}, "_total": {"accurate"}}, search.ParseOptions{DefaultCount: 50, MaxCount: 1000})
	if err != nil {
		t.Fatal(err)
	}
	return q
}

// proxy is a TCP proxy in front of a database that a test cuts (the database "goes down": every
// connection is closed and new ones are refused) and restores on the same address.
type proxy struct {
	t      testing.TB
	target string
	addr   string

	mu    sync.Mutex
	ln    net.Listener
	conns map[net.Conn]bool
	wg    sync.WaitGroup
}

// newProxy reserves an address in front of target; the proxy starts cut.
func newProxy(t testing.TB, target string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{t: t, target: target, addr: ln.Addr().String(), conns: map[net.Conn]bool{}}
	ln.Close()
	t.Cleanup(func() { p.cut(); p.wg.Wait() })
	return p
}

// restore listens again and forwards connections to the target.
func (p *proxy) restore() {
	p.t.Helper()
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		p.t.Fatalf("proxy: listen again on %s: %v", p.addr, err)
	}
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			d, err := net.Dial("tcp", p.target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			if p.ln != ln { // cut meanwhile
				p.mu.Unlock()
				c.Close()
				d.Close()
				return
			}
			p.conns[c], p.conns[d] = true, true
			p.mu.Unlock()
			p.wg.Add(2)
			go func() { defer p.wg.Done(); _, _ = io.Copy(d, c); d.Close() }()
			go func() { defer p.wg.Done(); _, _ = io.Copy(c, d); c.Close() }()
		}
	}()
}

// cut closes the listener and every connection: the database is unreachable (connection refused).
func (p *proxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		c.Close()
		delete(p.conns, c)
	}
}
