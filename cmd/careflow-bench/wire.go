package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// wireClient sends HTTP/1.1 requests on one keep-alive connection per worker, written and read directly,
// as wrk does. Go's http.Client costs about 85 µs of CPU per round trip (three goroutines and their
// selects per request, measured from /proc), as much as careflow spends serving a read from its cache:
// on a 2-core machine the load generator would halve the reads it measures. A worker's connection is
// used by that worker only; it is dialled on first use and again after an error.
type wireClient struct {
	host string // host:port to dial
	path string // the base URL's path, e.g. /fhir
	// headers (name, value pairs) are sent with every request (the bearer token).
	headers []string
	conns   []*wireConn
}

type wireConn struct {
	c    net.Conn
	r    *bufio.Reader
	w    *bufio.Writer
	body bytes.Buffer // the last response's body, reused
}

func newWireClient(base string, workers int) (*wireClient, error) {
	u, err := url.Parse(base)
	if err != nil || u.Scheme != "http" || u.Host == "" {
		return nil, fmt.Errorf("wire client: %q is not an http:// base URL", base)
	}
	host := u.Host
	if u.Port() == "" {
		host += ":80"
	}
	return &wireClient{host: host, path: u.EscapedPath(), conns: make([]*wireConn, workers)}, nil
}

// do sends method path (relative to the base) with headers and body on worker w's connection and reads
// the whole response; a status other than want is an error.
func (wc *wireClient) do(ctx context.Context, w int, method, path string, headers []string, body []byte, want int) (*http.Response, error) {
	resp, err := wc.roundTrip(ctx, w, method, path, headers, body)
	if err != nil {
		if c := wc.conns[w]; c != nil {
			_ = c.c.Close()
			wc.conns[w] = nil
		}
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	if resp.StatusCode != want {
		body, _ := io.ReadAll(resp.Body)
		return nil, fmt.Errorf("%s %s: status %d (want %d): %.300s", method, path, resp.StatusCode, want, body)
	}
	return resp, nil
}

func (wc *wireClient) roundTrip(ctx context.Context, w int, method, path string, headers []string, body []byte) (*http.Response, error) {
	c := wc.conns[w]
	if c == nil {
		var d net.Dialer
		conn, err := d.DialContext(ctx, "tcp", wc.host)
		if err != nil {
			return nil, err
		}
		c = &wireConn{c: conn, r: bufio.NewReaderSize(conn, 16<<10), w: bufio.NewWriterSize(conn, 16<<10)}
		wc.conns[w] = c
	}
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(time.Minute)
	}
	if err := c.c.SetDeadline(deadline); err != nil {
		return nil, err
	}
	b := c.w
	b.WriteString(method)
	b.WriteByte(' ')
	b.WriteString(wc.path)
	b.WriteString(path)
	b.WriteString(" HTTP/1.1\r\nHost: ")
	b.WriteString(wc.host)
	b.WriteString("\r\n")
	for i := 0; i+1 < len(wc.headers); i += 2 {
		b.WriteString(wc.headers[i])
		b.WriteString(": ")
		b.WriteString(wc.headers[i+1])
		b.WriteString("\r\n")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		b.WriteString(headers[i])
		b.WriteString(": ")
		b.WriteString(headers[i+1])
		b.WriteString("\r\n")
	}
	if body != nil {
		b.WriteString("Content-Length: ")
		b.WriteString(strconv.Itoa(len(body)))
		b.WriteString("\r\n")
	}
	b.WriteString("\r\n")
	b.Write(body)
	if err := b.Flush(); err != nil {
		return nil, err
	}
	resp, err := http.ReadResponse(c.r, nil)
	if err != nil {
		return nil, err
	}
	c.body.Reset()
	if _, err := io.Copy(&c.body, resp.Body); err != nil {
		return nil, fmt.Errorf("read body: %w", err)
	}
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(c.body.Bytes())) // valid until the worker's next request
	if resp.Close {
		_ = c.c.Close()
		wc.conns[w] = nil
	}
	return resp, nil
}

// close closes every worker's connection.
func (wc *wireClient) close() {
	for i, c := range wc.conns {
		if c != nil {
			_ = c.c.Close()
			wc.conns[i] = nil
		}
	}
}
