package fetch

import (
	"context"
	"reflect"
	"strconv"
	"strings"
	"sync"

	"github.com/careflow/careflow/fhir/search"
	"github.com/careflow/careflow/storage"
)

// Memo is a Searcher that answers a repeated query from memory. It is meant for the duration of one
// computation that runs the same searches several times (a worklist asks for the active care plans in four
// workflows), never as a long-lived cache: it does not see later writes. Safe for concurrent use: a query
// (or a decoding, see Decode) asked while the same one is under way waits for its answer instead of
// running again.
type Memo struct {
	s     Searcher
	keep  map[string]bool // the types whose pages are kept; all when nil
	mu    sync.Mutex
	pages map[string]*call[*storage.SearchPage]
	// decoded holds what Decode computed, per resource version and kind of decoding.
	decoded map[decodedKey]*call[any]
	// shared holds the values of Shared, by kind.
	shared map[string]any
	// ahead is the number of batches In and InEach search ahead (SearchAhead).
	ahead int
}

// call is one search or decoding, done or under way (done is closed when val and err are set).
type call[T any] struct {
	done chan struct{}
	val  T
	err  error
}

// once returns the answer of the call stored under key in calls, running f for it unless another caller
// already does (then it waits for that one). A failed call is forgotten, so a later caller runs f again.
func once[K comparable, T any](mu *sync.Mutex, calls map[K]*call[T], key K, f func() (T, error)) (T, error) {
	mu.Lock()
	if c, ok := calls[key]; ok {
		mu.Unlock()
		<-c.done
		return c.val, c.err
	}
	c := &call[T]{done: make(chan struct{})}
	calls[key] = c
	mu.Unlock()
	c.val, c.err = f()
	if c.err != nil {
		mu.Lock()
		delete(calls, key)
		mu.Unlock()
	}
	close(c.done)
	return c.val, c.err
}

// decodedKey names one decoding of one resource version.
type decodedKey struct {
	kind, typ, id string
	version       int64
}

// NewMemo returns a Memo over s. With types, it keeps the pages of searches of those types only (and
// passes the others on): a computation that asks other searches once need not hold their pages.
func NewMemo(s Searcher, types ...string) *Memo {
	m := &Memo{s: s, pages: map[string]*call[*storage.SearchPage]{}, decoded: map[decodedKey]*call[any]{}, shared: map[string]any{}}
	if len(types) > 0 {
		m.keep = map[string]bool{}
		for _, t := range types {
			m.keep[t] = true
		}
	}
	return m
}

// Decode returns decode(v). When s is a Memo it computes it once per resource version and kind for the
// memo's computation — the workflows of a worklist read the same care plans and appointments through
// several searches — and hands every caller the same value, which callers must not modify. kind names
// the decoding (a package-qualified type name, plus whatever else the result depends on, such as a time
// zone); decode must depend on v's body and kind only. Errors are not kept.
func Decode[T any](s Searcher, kind string, v *storage.Version, decode func(*storage.Version) (T, error)) (T, error) {
	m, ok := s.(*Memo)
	if !ok {
		return decode(v)
	}
	key := decodedKey{kind: kind, typ: v.Type, id: v.ID, version: v.VersionID}
	out, err := once(&m.mu, m.decoded, key, func() (any, error) {
		out, err := decode(v)
		if err == nil {
			detach(reflect.ValueOf(&out).Elem())
		}
		return out, err
	})
	if err != nil {
		var zero T
		return zero, err
	}
	return out.(T), nil
}

// Shared returns the value kept under kind for the computation of s when s is a Memo — made by newValue
// the first time, the same value for every later caller of the computation (which must synchronise its
// use) — so that workflows can share what they read beyond whole searches (a population's coverages,
// read for several lists of patients). ok is false when s is not a Memo: there is no computation to share
// with. kind names the value's type and what it depends on, as for Decode.
func Shared[T any](s Searcher, kind string, newValue func() T) (v T, ok bool) {
	m, isMemo := s.(*Memo)
	if !isMemo {
		return v, false
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if x, found := m.shared[kind]; found {
		v, ok = x.(T)
		return v, ok
	}
	v = newValue()
	m.shared[kind] = v
	return v, true
}

// detach copies every string reachable from v through pointers, structs, slices and arrays (settable
// ones: exported fields), so that a value the memo keeps does not hold the buffer it was decoded from (a
// string github.com/goccy/go-json decodes points into its copy of the whole body).
func detach(v reflect.Value) {
	switch v.Kind() {
	case reflect.String:
		if v.CanSet() {
			v.SetString(strings.Clone(v.String()))
		}
	case reflect.Pointer:
		if !v.IsNil() {
			detach(v.Elem())
		}
	case reflect.Struct:
		for i := range v.NumField() {
			detach(v.Field(i))
		}
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			detach(v.Index(i))
		}
	}
}

// Search implements Searcher. Pages are shared between callers and must not be modified.
func (m *Memo) Search(ctx context.Context, q *search.Query) (*storage.SearchPage, error) {
	key, ok := queryKey(q)
	if !ok || (m.keep != nil && !m.keep[q.Type]) {
		return m.s.Search(ctx, q)
	}
	return once(&m.mu, m.pages, key, func() (*storage.SearchPage, error) { return m.s.Search(ctx, q) })
}

// queryKey renders the parts of a query the adapters set; ok is false for queries with parts it does not
// render (chains, _has, includes, compartments), which are not memoised.
func queryKey(q *search.Query) (string, bool) {
	if q.Compartment != nil || len(q.Include) > 0 || len(q.RevInclude) > 0 || len(q.Elements) > 0 {
		return "", false
	}
	var b strings.Builder
	b.WriteString(q.Type)
	b.WriteString("\x00" + strconv.Itoa(q.Count) + "\x00" + q.Total + "\x00" + q.Summary + "\x00" + q.Cursor)
	for _, s := range q.Sort {
		b.WriteString("\x00sort:" + s.Param.Code + ":" + strconv.FormatBool(s.Descending))
	}
	for _, c := range q.Criteria {
		if c.Param == nil || c.Chain != nil || c.Has != nil {
			return "", false
		}
		b.WriteString("\x01" + c.Param.Code + ":" + c.Modifier)
		for _, v := range c.Values {
			b.WriteString("\x02" + v.Raw)
		}
	}
	return b.String(), true
}

// SearchAhead makes In and InEach, through m, search up to n batches ahead of the one they hand to their
// caller, concurrently (a computation over a population, whose lookups run in many batches: see
// Fetcher.batches); results and their order are the same. Call it before m is used. It returns m.
func (m *Memo) SearchAhead(n int) *Memo {
	m.ahead = n
	return m
}

// BatchesAhead reports SearchAhead's n (0 when not set: one batch at a time).
func (m *Memo) BatchesAhead() int { return m.ahead }

// SearchBatch passes the wrapped store's batch size on (see batchHint); 0 when it has none.
func (m *Memo) SearchBatch() int {
	if h, ok := m.s.(batchHint); ok {
		return h.SearchBatch()
	}
	return 0
}
