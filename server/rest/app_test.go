package rest_test

import (
	"net/http"
	"testing"
)

func TestAppMount(t *testing.T) {
	c := server(t, func(cfg *testConfig) {
		cfg.http.App = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("app:" + r.URL.Path)) })
	})
	r := c.do("GET", c.root+"/app/index.html", "")
	if r.status != 200 || string(r.body) != "app:/index.html" {
		t.Errorf("app: %d %s", r.status, r.body)
	}
	// HEAD reaches the app too (link checkers, load balancers' health probes).
	if r := c.do("HEAD", c.root+"/app/", ""); r.status != 200 {
		t.Errorf("HEAD /app/: %d", r.status)
	}
}
