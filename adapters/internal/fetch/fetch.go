// Package fetch runs the adapters' searches: it builds each query with the search registry from ordinary
// FHIR search parameters (so every field and operator comes from the registry, never from text), and pages
// through every result with Query.Cursor and SearchPage.Next.
package fetch

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"sync"

	"github.com/careflow/careflow/fhir/search"
	"github.com/careflow/careflow/storage"
)

// DefaultPageSize is the page size used when none is configured. It is large because the adapters read
// every page anyway, and on FerretDB every page of a search costs a scan of all the candidates (keyset
// paging on _id is not evaluated in PostgreSQL): reading N matches in pages of P costs N/P scans.
const DefaultPageSize = 10000

// DefaultBatch is how many values one search puts in a comma-separated (OR) list when it looks up many
// references at once. 64 is the longest list the MongoDB store runs on FerretDB as one equality query per
// value (storage/mongo/expand.go); a longer one would make FerretDB scan the whole collection.
const DefaultBatch = 64

// Searcher is what every adapter needs of the store (the workflow packages' New take one): declared once
// here, where it is consumed.
type Searcher interface {
	Search(ctx context.Context, q *search.Query) (*storage.SearchPage, error)
}

// batchHint is implemented by stores that answer a long comma-separated (OR) list from their indexes in
// one query (the embedded store): In then sends lists of that many values and never reads a type whole.
type batchHint interface {
	SearchBatch() int
}

// Fetcher runs searches and collects every page.
type Fetcher struct {
	Store    Searcher
	Registry *search.Registry
	// PageSize is the _count of each page (DefaultPageSize when zero).
	PageSize int
	// Batch is the number of OR-ed values per search in In (DefaultBatch when zero).
	Batch int
}

// All returns every current resource of typ matching params, in the store's order (by id unless params
// has _sort). Parameters are parsed strictly: an unknown or unsupported parameter is an error, never
// silently ignored (which would widen the result).
func (f Fetcher) All(ctx context.Context, typ string, params url.Values) ([]*storage.Version, error) {
	if f.Store == nil || f.Registry == nil {
		return nil, errors.New("fetch: no store or search registry")
	}
	p := url.Values{}
	for k, v := range params {
		p[k] = append([]string(nil), v...)
	}
	size := f.PageSize
	if size <= 0 {
		size = DefaultPageSize
	}
	p.Set("_count", strconv.Itoa(size))
	p.Set("_total", "none")
	q, oerr := f.Registry.Parse(typ, p, search.ParseOptions{Strict: true, DefaultCount: size})
	if oerr != nil {
		return nil, fmt.Errorf("fetch: %s?%s: %w", typ, p.Encode(), oerr)
	}
	var out []*storage.Version
	seen := map[string]bool{}
	for {
		page, err := f.Store.Search(ctx, q)
		if err != nil {
			return nil, fmt.Errorf("fetch: search %s?%s: %w", typ, p.Encode(), err)
		}
		for _, v := range page.Versions {
			if v.Deleted || seen[v.ID] {
				continue
			}
			seen[v.ID] = true
			out = append(out, v)
		}
		if page.Next == "" || page.Next == q.Cursor {
			return out, nil
		}
		q.Cursor = page.Next
	}
}

// Count returns the number of current resources of typ matching params (the store's total).
func (f Fetcher) Count(ctx context.Context, typ string, params url.Values) (int, error) {
	if f.Store == nil || f.Registry == nil {
		return 0, errors.New("fetch: no store or search registry")
	}
	p := url.Values{}
	for k, v := range params {
		p[k] = append([]string(nil), v...)
	}
	p.Set("_count", "0")
	p.Set("_total", "accurate")
	q, oerr := f.Registry.Parse(typ, p, search.ParseOptions{Strict: true})
	if oerr != nil {
		return 0, fmt.Errorf("fetch: %s?%s: %w", typ, p.Encode(), oerr)
	}
	page, err := f.Store.Search(ctx, q)
	if err != nil {
		return 0, fmt.Errorf("fetch: count %s?%s: %w", typ, p.Encode(), err)
	}
	if page.Total < 0 {
		return 0, fmt.Errorf("fetch: count %s?%s: the store gave no total", typ, p.Encode())
	}
	return page.Total, nil
}

// In returns every resource of typ whose parameter param matches any of values (batched into
// comma-separated lists of at most Batch values), and that also matches params. Results are deduplicated
// and ordered by batch, then as All orders them.
func (f Fetcher) In(ctx context.Context, typ, param string, values []string, params url.Values) ([]*storage.Version, error) {
	var out []*storage.Version
	err := f.InEach(ctx, typ, param, values, params, func(v *storage.Version) error {
		out = append(out, v)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// InEach calls fn with every resource In returns, in In's order, one batch at a time: the caller need not
// hold the whole result (a population's medication statements) to go through it. An error of fn stops it.
func (f Fetcher) InEach(ctx context.Context, typ, param string, values []string, params url.Values, fn func(*storage.Version) error) error {
	batch := f.Batch
	if batch <= 0 {
		batch = DefaultBatch
	}
	indexed := false
	if h, ok := f.Store.(batchHint); ok && h.SearchBatch() > 0 {
		indexed = true
		if f.Batch <= 0 {
			batch = h.SearchBatch()
		}
	}
	seen := map[string]bool{}
	uniq := dedupe(values)
	if len(uniq) > LargeIn && !indexed {
		vs, ok, err := f.inMemory(ctx, typ, param, uniq, params)
		if err != nil {
			return err
		}
		if ok {
			for _, v := range vs {
				if err := fn(v); err != nil {
					return err
				}
			}
			return nil
		}
	}
	var chunks [][]string
	for i := 0; i < len(uniq); i += batch {
		chunks = append(chunks, uniq[i:min(i+batch, len(uniq))])
	}
	return f.batches(ctx, len(chunks), func(ctx context.Context, i int) ([]*storage.Version, error) {
		p := url.Values{}
		for k, v := range params {
			p[k] = append([]string(nil), v...)
		}
		p.Set(param, joinEscaped(chunks[i]))
		return f.All(ctx, typ, p)
	}, func(vs []*storage.Version) error {
		for _, v := range vs {
			if !seen[v.ID] {
				seen[v.ID] = true
				if err := fn(v); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// aheadHint is implemented by a Searcher that wants In and InEach to search batches ahead (Memo.SearchAhead).
type aheadHint interface {
	BatchesAhead() int
}

// batches runs get for batches 0…n-1 and calls use with their results in batch order. Through a Searcher
// with BatchesAhead() = k > 0 it runs up to k gets ahead of the batch being used (a population's lookup,
// thousands of references in batches of 500, then keeps a second CPU busy while the first decodes, and
// holds at most k batches besides the caller's); otherwise one after the other, and nothing is searched
// after an error. It returns the first error in batch order (get's or use's), after every get it started
// has returned; the gets still pending then see their context cancelled.
func (f Fetcher) batches(ctx context.Context, n int, get func(ctx context.Context, i int) ([]*storage.Version, error), use func([]*storage.Version) error) error {
	ahead := 0
	if h, ok := f.Store.(aheadHint); ok {
		ahead = h.BatchesAhead()
	}
	if ahead <= 0 || n == 1 {
		for i := range n {
			vs, err := get(ctx, i)
			if err != nil {
				return err
			}
			if err := use(vs); err != nil {
				return err
			}
		}
		return nil
	}
	ctx, cancel := context.WithCancel(ctx)
	type result struct {
		vs  []*storage.Version
		err error
	}
	results := make([]chan result, n)
	for i := range results {
		results[i] = make(chan result, 1)
	}
	var wg sync.WaitGroup
	defer func() {
		cancel()
		wg.Wait()
	}()
	start := func(i int) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			vs, err := get(ctx, i)
			results[i] <- result{vs, err}
		}()
	}
	next := 0
	for ; next < min(n, ahead); next++ {
		start(next)
	}
	for i := range n {
		r := <-results[i]
		if next < n {
			start(next)
			next++
		}
		if r.err != nil {
			return r.err
		}
		if err := use(r.vs); err != nil {
			return err
		}
	}
	return nil
}

// LargeIn is the number of values beyond which In reads every resource matching params once and keeps,
// in memory, those whose param matches one of the values — instead of len(values)/Batch searches. A
// population-wide workflow (the day's worklist over every patient) looks up thousands of patients; each
// batch would be a search of its own (on FerretDB, a scan of the collection per batch).
const LargeIn = 512

// inMemory is In for many values: one pass over All(typ, params), matching param in memory with the
// store's semantics (search.Match on the resource's index fields). ok is false when the parameter is beyond
// the in-memory matcher; the caller then searches in batches.
func (f Fetcher) inMemory(ctx context.Context, typ, param string, values []string, params url.Values) ([]*storage.Version, bool, error) {
	q, oerr := f.Registry.Parse(typ, url.Values{param: {joinEscaped(values)}}, search.ParseOptions{Strict: true})
	if oerr != nil {
		return nil, false, fmt.Errorf("fetch: %s?%s=…: %w", typ, param, oerr)
	}
	m, supported := search.NewMatcher(q.Criteria)
	if !supported {
		return nil, false, nil
	}
	all, err := f.All(ctx, typ, params)
	if err != nil {
		return nil, false, err
	}
	var out []*storage.Version
	for _, v := range all {
		dec := json.NewDecoder(bytes.NewReader(v.Body))
		dec.UseNumber()
		var tree map[string]any
		if err := dec.Decode(&tree); err != nil {
			return nil, false, fmt.Errorf("fetch: %s/%s: %w", typ, v.ID, err)
		}
		index, err := f.Registry.Index(typ, tree)
		if err != nil {
			return nil, false, fmt.Errorf("fetch: index %s/%s: %w", typ, v.ID, err)
		}
		if m.Match(v.ID, index) {
			out = append(out, v)
		}
	}
	return out, true, nil
}

func dedupe(values []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, v := range values {
		if v != "" && !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	return out
}

// TokenValue is the token search value system|code (search.html#token), each part escaped (EscapeValue) so
// that it means exactly that system and code; an empty code is "system|", any code of the system.
func TokenValue(system, code string) string {
	return EscapeValue(system) + "|" + EscapeValue(code)
}

// EscapeValue escapes the backslash, comma, dollar and bar of a search value (search.html#escaping), so that
// it is one value taken literally.
func EscapeValue(s string) string {
	return strings.NewReplacer(`\`, `\\`, `,`, `\,`, `|`, `\|`, `$`, `\$`).Replace(s)
}

// joinEscaped joins values with commas, escaping the characters FHIR search gives a meaning to (search.html#escaping).
func joinEscaped(values []string) string {
	var b []byte
	for i, v := range values {
		if i > 0 {
			b = append(b, ',')
		}
		for j := 0; j < len(v); j++ {
			switch v[j] {
			case '\\', ',', '$', '|':
				b = append(b, '\\')
			}
			b = append(b, v[j])
		}
	}
	return string(b)
}
