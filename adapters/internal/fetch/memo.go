package fetch

import (
	"context"
	"strconv"
	"strings"
	"sync"

	"github.com/careflow/careflow/fhir/search"
	"github.com/careflow/careflow/storage"
)

// Memo is a Searcher that answers a repeated query from memory. It is meant for the duration of one
// computation that runs the same searches several times (a worklist asks for the active care plans in four
// workflows), never as a long-lived cache: it does not see later writes. Safe for concurrent use.
type Memo struct {
	s     Searcher
	mu    sync.Mutex
	pages map[string]*storage.SearchPage
	// decoded holds what Decode computed, per resource version and kind of decoding.
	decoded map[decodedKey]any
}

// decodedKey names one decoding of one resource version.
type decodedKey struct {
	kind, typ, id string
	version       int64
}

// NewMemo returns a Memo over s.
func NewMemo(s Searcher) *Memo {
	return &Memo{s: s, pages: map[string]*storage.SearchPage{}, decoded: map[decodedKey]any{}}
}

// Decode returns decode(v). When s is a Memo it computes it once per resource version and kind for the
// memo's computation — the workflows of a worklist read the same care plans and appointments through
// several searches — and hands every caller the same value, which callers must not modify. kind names
// the decoding (a package-qualified type name, plus whatever else the result depends on, such as a time
// zone); decode must depend on v's body and kind only.
func Decode[T any](s Searcher, kind string, v *storage.Version, decode func(*storage.Version) (T, error)) (T, error) {
	m, ok := s.(*Memo)
	if !ok {
		return decode(v)
	}
	key := decodedKey{kind: kind, typ: v.Type, id: v.ID, version: v.VersionID}
	m.mu.Lock()
	cached, hit := m.decoded[key]
	m.mu.Unlock()
	if hit {
		return cached.(T), nil
	}
	out, err := decode(v)
	if err != nil {
		return out, err
	}
	m.mu.Lock()
	m.decoded[key] = out
	m.mu.Unlock()
	return out, nil
}

// Search implements Searcher. Pages are shared between callers and must not be modified.
func (m *Memo) Search(ctx context.Context, q *search.Query) (*storage.SearchPage, error) {
	key, ok := queryKey(q)
	if !ok {
		return m.s.Search(ctx, q)
	}
	m.mu.Lock()
	page, hit := m.pages[key]
	m.mu.Unlock()
	if hit {
		return page, nil
	}
	page, err := m.s.Search(ctx, q)
	if err != nil {
		return nil, err
	}
	m.mu.Lock()
	m.pages[key] = page
	m.mu.Unlock()
	return page, nil
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

// SearchBatch passes the wrapped store's batch size on (see batchHint); 0 when it has none.
func (m *Memo) SearchBatch() int {
	if h, ok := m.s.(batchHint); ok {
		return h.SearchBatch()
	}
	return 0
}
