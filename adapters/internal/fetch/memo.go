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
}

// NewMemo returns a Memo over s.
func NewMemo(s Searcher) *Memo {
	return &Memo{s: s, pages: map[string]*storage.SearchPage{}}
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
