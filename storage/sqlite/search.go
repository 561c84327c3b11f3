package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/careflow/careflow/fhir/search"
	"github.com/careflow/careflow/storage"
)

// Search implements storage.Store. A query becomes one SQL statement over res in which every criterion is
// a membership test against an index table (ixk, ixd) seeked by (field, value) — chains and _has as nested
// membership tests — ordered by the sort keys (srt, res.lu, res.id) with a keyset cursor; the page's bodies
// are read afterwards by sequence number. Page, bodies and total come from one read transaction (the one
// ReadConsistent bound to ctx, if any).
func (s *Store) Search(ctx context.Context, q *search.Query) (*storage.SearchPage, error) {
	page := &storage.SearchPage{Total: -1}
	tx, own, err := s.readTx(ctx)
	if err != nil {
		return nil, fmt.Errorf("sqlite: search %s: %w", q.Type, err)
	}
	if own {
		defer func() { _ = tx.Rollback() }()
	}
	rq := cachedTx{tx: tx, cache: s.search}
	st, err := s.statements(ctx, rq, q)
	if err != nil {
		return nil, err
	}
	if st == nil {
		page.Total = 0
		return page, nil
	}
	wantTotal := q.Total == "accurate" || q.Total != "none" && q.Cursor == ""
	count := func() (int, error) {
		var n int
		if err := rq.QueryRowContext(ctx, st.count, st.countArgs...).Scan(&n); err != nil {
			return 0, fmt.Errorf("sqlite: search %s: count: %w", q.Type, err)
		}
		return n, nil
	}
	if q.CountSet && q.Count == 0 {
		if wantTotal {
			if page.Total, err = count(); err != nil {
				return nil, err
			}
		}
		return page, nil
	}
	var hits []hit
	if st.walk != "" {
		if hits, err = st.hits(ctx, rq, st.walk, st.walkArgs); err != nil {
			return nil, fmt.Errorf("sqlite: search %s: %w", q.Type, err)
		}
		if len(hits) <= st.limit && st.walkMayEnd {
			// The walk ran out of keys before the page was full and some resources have no key (they come
			// last in this order): the sorted statement finds them.
			hits = nil
		}
	}
	if hits == nil {
		if hits, err = st.hits(ctx, rq, st.page, st.pageArgs); err != nil {
			return nil, fmt.Errorf("sqlite: search %s: %w", q.Type, err)
		}
	}
	more := len(hits) > st.limit
	if more {
		hits = hits[:st.limit]
	}
	if wantTotal {
		if q.Cursor == "" && !more {
			page.Total = len(hits)
		} else if page.Total, err = count(); err != nil {
			return nil, err
		}
	}
	if st.backward {
		for i, j := 0, len(hits)-1; i < j; i, j = i+1, j-1 {
			hits[i], hits[j] = hits[j], hits[i]
		}
	}
	seqs := make([]int64, len(hits))
	for i, h := range hits {
		seqs[i] = h.seq
	}
	versions, err := s.readVersions(ctx, rq, q.Type, seqs)
	if err != nil {
		return nil, err
	}
	for _, h := range hits {
		v := versions[h.seq]
		if v == nil {
			return nil, fmt.Errorf("sqlite: search %s: version %d of %s vanished", q.Type, h.seq, h.id)
		}
		v.ID = h.id
		page.Versions = append(page.Versions, v)
	}
	if len(hits) > 0 {
		first, last := cursorValues(hits[0].vals), cursorValues(hits[len(hits)-1].vals)
		hasNext, hasPrev := more, st.after
		if st.backward {
			hasNext, hasPrev = true, more
		}
		if hasNext {
			page.Next = (&searchCursor{Values: last}).encode()
		}
		if hasPrev {
			page.Prev = (&searchCursor{Values: first, Backward: true}).encode()
		}
	}
	return page, nil
}

// statements are the SQL of one search: the page (seq, id, then the sort-key values of each match, in
// order, limit+1 rows) and the count of all matches. When the order's first key can be walked (see walk),
// walk is the page statement to run first.
type statements struct {
	page, count         string
	pageArgs, countArgs []any
	keys                int // sort-key columns after seq and id
	limit               int
	after, backward     bool // a cursor was given; it pages backward

	walk       string
	walkArgs   []any
	walkMayEnd bool // a short walk is not the end: resources without the key follow; run page instead
}

// hit is one row of a page statement.
type hit struct {
	seq  int64
	id   string
	vals []any
}

// hits runs a page statement.
func (st *statements) hits(ctx context.Context, tx cachedTx, stmt string, args []any) ([]hit, error) {
	rows, err := tx.QueryContext(ctx, stmt, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	hits := []hit{}
	for rows.Next() {
		h := hit{vals: make([]any, st.keys)}
		dest := []any{&h.seq, &h.id}
		for i := range h.vals {
			dest = append(dest, &h.vals[i])
		}
		if err := rows.Scan(dest...); err != nil {
			return nil, err
		}
		hits = append(hits, h)
	}
	return hits, rows.Err()
}

// rowQueryer runs the counts a plan needs (the search's read transaction).
type rowQueryer interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// statements builds the SQL of q; nil when nothing can match (nothing of q.Type was ever stored, or a
// criterion names a value no resource ever had).
//
// The plan: SQLite's statistics give the average number of resources per index key, which says nothing of
// the one asked for (status=booked holds half the appointments, patient=X three), so the planner may drive
// a search from its least selective criterion. Instead, the criteria that are index lookups are counted
// first (each up to driveLimit rows, on the index alone), and the smallest, when it is at most driveLimit,
// drives the statement explicitly (CROSS JOIN fixes the loop order): its resources are looked up by rowid
// and checked against the other criteria, then sorted. Without such a criterion SQLite walks the type's
// resources in the requested order and stops after the page.
func (s *Store) statements(ctx context.Context, db rowQueryer, q *search.Query) (*statements, error) {
	tid, ok := s.names.typeID(q.Type)
	if !ok {
		return nil, nil
	}
	b := &builder{s: s, now: time.Now()}
	parts, err := b.conds("r0", q.Type, tid, q.Criteria)
	if err != nil {
		return nil, err
	}
	for cmp := q.Compartment; cmp != nil && parts[0] != "0"; cmp = cmp.Within {
		if c := b.compartment("r0", tid, cmp); c == "0" {
			parts = []string{"0"}
		} else {
			parts = append(parts, c)
		}
	}
	st := &statements{limit: q.Count}
	if st.limit <= 0 {
		st.limit = 50
	}
	keys := b.sortKeys("r0", tid, q.Sort)
	st.keys = len(keys.exprs)
	var cursor *searchCursor
	if q.Cursor != "" {
		if cursor, err = decodeSearchCursor(q.Cursor, len(keys.exprs)); err != nil {
			return nil, err
		}
		st.after, st.backward = true, cursor.Backward
	}
	if parts[0] == "0" {
		return nil, nil // nothing matches: no statement to run
	}
	from := "res r0"
	i, err := s.driver(ctx, db, b, parts)
	if err != nil {
		return nil, err
	}
	if i >= 0 {
		from = "(SELECT DISTINCT rid FROM (" + parts[i][len(driverPrefix):len(parts[i])-1] + ")) d CROSS JOIN res r0 ON r0.rid = d.rid"
		parts = append(parts[:i:i], parts[i+1:]...)
	}
	if len(parts) == 3 && i < 0 && strings.HasPrefix(parts[2], driverPrefix) {
		// One index criterion: index rows exist for current resources only, so its resources are
		// counted on the index alone.
		sub := parts[2][len(driverPrefix) : len(parts[2])-1]
		st.count, st.countArgs = "SELECT count(DISTINCT rid) FROM ("+sub+")", b.args[:maxArg(sub)]
	}
	// Resources met one by one — the driven few, or the type's walked in the requested order until the page
	// is full — are checked by a seek per resource in each index table (clustered by rid), instead of
	// materialising every resource another criterion selects.
	for j, p := range parts {
		parts[j] = probe(p)
	}
	where := strings.Join(parts, " AND ")
	if st.count == "" {
		st.count, st.countArgs = "SELECT count(*) FROM "+from+" WHERE "+where, b.args[:maxArg(from+where)]
	}
	if cursor != nil {
		where += " AND " + b.keyset(keys, cursor.Values, cursor.Backward)
	}
	var order []string
	for i, e := range keys.exprs {
		dir := "ASC"
		if keys.desc[i] != st.backward {
			dir = "DESC"
		}
		order = append(order, e+" "+dir)
	}
	st.page = "SELECT r0.seq, r0.id, " + strings.Join(keys.exprs, ", ") + " FROM " + from + keys.joins +
		" WHERE " + where + " ORDER BY " + strings.Join(order, ", ") + " LIMIT " + strconv.Itoa(st.limit+1)
	if i < 0 && keys.walkFID != 0 {
		if err := s.walk(ctx, db, b, st, tid, keys, cursor, where, order); err != nil {
			return nil, err
		}
	}
	if len(parts) == 2 && i < 0 {
		// No criterion: the type's live resources, counted on the indexes.
		st.count, st.countArgs = liveCount, []any{tid}
	}
	st.pageArgs = b.args[:maxArg(st.page)]
	return st, nil
}

// liveCount counts a type's live resources (?1) on indexes: all of them (res_id) minus the deleted
// (res_deleted).
const liveCount = "SELECT (SELECT count(*) FROM res WHERE tid = ?1) - (SELECT count(*) FROM res WHERE tid = ?1 AND deleted)"

// walk sets st.walk when the page can be read by walking srt_walk in the order's first key — a sort on a
// date or string parameter with no criterion selective enough to drive the search: the statement reads
// keys in order, probes the criteria for each, and stops after the page, where the sorted statement
// (st.page) sorts every match for every page. Resources without the key sort first ascending and last
// descending (NULL) and are not in the walk, so the walk is used only where they cannot belong to the
// page: ascending, after a cursor with a key or when every live resource of the type has one; descending,
// before a cursor without a key, and when the walk ends short of a full page while keyless resources exist,
// Search runs st.page instead.
func (s *Store) walk(ctx context.Context, db rowQueryer, b *builder, st *statements, tid int64, keys sortSpec, cursor *searchCursor, where string, order []string) error {
	desc := keys.desc[0] != st.backward
	inKeyless := cursor != nil && cursor.Values[0] == nil
	if inKeyless {
		return nil // among the resources without the key: only the sorted statement finds them
	}
	if walked, err := isWalked(ctx, db, keys.walkFID); err != nil || !walked {
		if err == nil {
			s.requestWalk(keys.walkFID) // this search sorts; the next ones walk (walked.go)
		}
		return err
	}
	keyless := func() (bool, error) {
		var live, keyed int
		err := db.QueryRowContext(ctx, "SELECT ("+liveCount+"), (SELECT count(*) FROM srt WHERE f = ?2 AND w)", tid, keys.walkFID).Scan(&live, &keyed)
		if err != nil {
			return false, fmt.Errorf("sqlite: search: count the resources without a sort key: %w", err)
		}
		return keyed < live, nil
	}
	if !desc && cursor == nil {
		if k, err := keyless(); err != nil || k {
			return err
		}
	}
	if desc {
		k, err := keyless()
		if err != nil {
			return err
		}
		st.walkMayEnd = k
	}
	w := "s0.f = " + sqlInt(keys.walkFID) + " AND s0.w AND " + where
	if cursor != nil {
		// A range on the walked key, so that the walk seeks to the cursor (the keyset condition is an OR).
		op := " >= "
		if desc {
			op = " <= "
		}
		w += " AND s0.v" + op + b.arg(cursor.Values[0])
	}
	st.walk = "SELECT r0.seq, r0.id, " + strings.Join(keys.exprs, ", ") + " FROM srt s0 CROSS JOIN res r0 ON r0.rid = s0.rid" +
		keys.otherJoins + " WHERE " + w + " ORDER BY " + strings.Join(order, ", ") + " LIMIT " + strconv.Itoa(st.limit+1)
	st.walkArgs = b.args[:maxArg(st.walk)]
	return nil
}

// probe rewrites an index-lookup condition "r0.rid [NOT ]IN (SELECT rid FROM T WHERE …)" as the
// correlated "[NOT ]EXISTS (SELECT 1 FROM T WHERE rid = r0.rid AND …)"; other conditions are returned as
// they are.
func probe(cond string) string {
	neg := ""
	rest, ok := strings.CutPrefix(cond, driverPrefix)
	if !ok {
		if rest, ok = strings.CutPrefix(cond, "r0.rid NOT IN ("); !ok {
			return cond
		}
		neg = "NOT "
	}
	if !strings.HasSuffix(rest, ")") || !balanced(rest[:len(rest)-1]) {
		return cond
	}
	for _, table := range []string{"ixk", "ixd", "ixq"} {
		if body, ok := strings.CutPrefix(rest[:len(rest)-1], "SELECT rid FROM "+table+" WHERE "); ok {
			return neg + "EXISTS (SELECT 1 FROM " + table + " WHERE rid = r0.rid AND " + body + ")"
		}
	}
	return cond
}

// driverPrefix starts a condition that is an index lookup of the resources that meet it.
const driverPrefix = "r0.rid IN ("

// driveLimit is the most resources a criterion may select to drive a search.
const driveLimit = 4000

// driveRounds are the limits of the counts driver makes, growing: a round that finds a criterion below its
// limit ends the search for the driver. A search with one selective criterion (a patient's three
// medication statements) among broad ones (status=active: half of 24,000) counts at most 16 rows of the
// broad ones counted before it, instead of up to driveLimit of each.
var driveRounds = [...]int{fewToDrive, 256, driveLimit + 1}

// fewToDrive: a criterion selecting fewer resources drives at once, without counting the others —
// probing so few resources for them costs less than counting them, which for a list of codes with a
// system-only value or a :text criterion means reading all of the field's keys (7–13 ms at 10,000
// patients, every search of a patient's medication duplications).
const fewToDrive = 16

// driver returns the index in parts of the index-lookup condition that selects the fewest resources, if
// that is at most driveLimit (or the first found selecting fewer than fewToDrive); -1 otherwise.
func (s *Store) driver(ctx context.Context, db rowQueryer, b *builder, parts []string) (int, error) {
	// Equality lookups first, those with fewer values first: they are cheap to count and usually the most
	// selective, and every later count stops at the best so far.
	type lookup struct {
		i        int
		equality bool
		values   int
	}
	var order []lookup
	for i, p := range parts {
		if !strings.HasPrefix(p, driverPrefix) || !strings.HasSuffix(p, ")") || !balanced(p[len(driverPrefix):len(p)-1]) {
			continue
		}
		order = append(order, lookup{i, strings.Contains(p, "AND v IN (?") && !strings.Contains(p, "SELECT ?"), strings.Count(p, "?")})
	}
	slices.SortStableFunc(order, func(x, y lookup) int {
		if x.equality != y.equality {
			if x.equality {
				return -1
			}
			return 1
		}
		return x.values - y.values
	})
	// Each count stops at the round's limit or the best so far. The first round ends at the first count
	// below it. A later round that ends with a count below its limit has found the least: every criterion
	// counted before it reached its own cap (at least the limit or an earlier best), and every one after
	// it was counted up to it.
	best := -1
	for _, limit := range driveRounds {
		bestN := limit
		for _, l := range order {
			if best >= 0 && limit == fewToDrive {
				return best, nil
			}
			sub := parts[l.i][len(driverPrefix) : len(parts[l.i])-1]
			var n int
			q := "SELECT count(*) FROM (" + sub + " LIMIT " + strconv.Itoa(bestN) + ")"
			if err := db.QueryRowContext(ctx, q, b.args[:maxArg(sub)]...).Scan(&n); err != nil {
				return -1, fmt.Errorf("sqlite: search: estimate a criterion: %w", err)
			}
			if n < bestN {
				best, bestN = l.i, n
			}
		}
		if best >= 0 {
			return best, nil
		}
	}
	return -1, nil
}

// balanced reports whether every parenthesis of s closes within it (so that s is one subquery).
func balanced(s string) bool {
	depth := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '(':
			depth++
		case ')':
			if depth--; depth < 0 {
				return false
			}
		}
	}
	return depth == 0
}

// maxArg is the highest parameter number (?N) in sql.
func maxArg(sql string) int {
	n := 0
	for i := 0; i < len(sql); i++ {
		if sql[i] != '?' {
			continue
		}
		j := i + 1
		for j < len(sql) && sql[j] >= '0' && sql[j] <= '9' {
			j++
		}
		if v, err := strconv.Atoi(sql[i+1 : j]); err == nil && v > n {
			n = v
		}
		i = j - 1
	}
	return n
}

// SearchBatch is how many values a search may OR in one criterion and still be answered from the indexes
// in one statement (callers looking up thousands of references batch them by this many).
func (s *Store) SearchBatch() int { return maxVars }

// readVersions reads the versions with the given sequence numbers (ID left empty).
func (s *Store) readVersions(ctx context.Context, tx cachedTx, typ string, seqs []int64) (map[int64]*storage.Version, error) {
	out := make(map[int64]*storage.Version, len(seqs))
	for start := 0; start < len(seqs); start += maxVars {
		chunk := seqs[start:min(len(seqs), start+maxVars)]
		args := make([]any, len(chunk))
		for i, seq := range chunk {
			args[i] = seq
		}
		rows, err := tx.QueryContext(ctx, "SELECT vid, lu, deleted, method, body, seq FROM ver WHERE seq IN ("+placeholders(len(chunk))+")", args...)
		if err != nil {
			return nil, fmt.Errorf("sqlite: read %s versions: %w", typ, err)
		}
		for rows.Next() {
			var seq int64
			v, err := s.scanVersion(rows, typ, "", &seq)
			if err != nil {
				rows.Close()
				return nil, fmt.Errorf("sqlite: read %s versions: %w", typ, err)
			}
			out[seq] = v
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("sqlite: read %s versions: %w", typ, err)
		}
	}
	return out, nil
}

// builder assembles a statement's SQL and its arguments. Placeholders are numbered (?N), so fragments
// can be combined in any order. Every identifier in the SQL comes from this code; client values are only
// ever arguments.
type builder struct {
	s       *Store
	args    []any
	aliases int
	now     time.Time
}

func (b *builder) arg(v any) string {
	b.args = append(b.args, v)
	return "?" + strconv.Itoa(len(b.args))
}

// sqlInt renders one of the store's own integers — an interned type or field id, never a client's value —
// as a literal. Bound instead, a type id in a filter term of a join makes SQLite mark the statement
// "re-prepare when this variable is rebound" (whereLoopOutputAdjust checks whether it is 0 or 1), and the
// driver clears the bindings before every run, so a cached statement would be compiled again on every
// run (TestSearchStatementsStayPrepared).
func sqlInt(v int64) string { return strconv.FormatInt(v, 10) }

func (b *builder) alias() string {
	b.aliases++
	return "r" + strconv.Itoa(b.aliases)
}

// where is the condition selecting the current resources of type tid (alias a) that meet every criterion.
func (b *builder) where(a, typ string, tid int64, criteria []search.Criterion) (string, error) {
	parts, err := b.conds(a, typ, tid, criteria)
	if err != nil {
		return "", err
	}
	return strings.Join(parts, " AND "), nil
}

// conds is where as a list of conditions (all must hold); ["0"] when nothing can match.
func (b *builder) conds(a, typ string, tid int64, criteria []search.Criterion) ([]string, error) {
	parts := []string{a + ".tid = " + sqlInt(tid), a + ".deleted = 0"}
	for _, c := range criteria {
		cond, err := b.criterion(a, typ, tid, c)
		if err != nil {
			return nil, err
		}
		if cond == "0" {
			return []string{"0"}, nil // matches nothing
		}
		if cond != "1" {
			parts = append(parts, cond)
		}
	}
	return parts, nil
}

// field returns the id of a type's index field as SQL, or "NULL" (matching nothing) when no resource has
// ever had it.
func (b *builder) field(tid int64, name string) (string, bool) {
	fid, ok := b.s.names.fieldID(tid, name)
	if !ok {
		return "NULL", false
	}
	return sqlInt(fid), true
}

// keys is "a.rid IN (the resources with one of keys in field)".
func (b *builder) keys(a string, tid int64, field string, keys []string, negate bool) string {
	f, ok := b.field(tid, field)
	if !ok || len(keys) == 0 {
		return boolSQL(negate)
	}
	return a + ".rid " + not(negate) + "IN (SELECT rid FROM ixk WHERE f = " + f + " AND v IN (" + b.list(keys) + "))"
}

// list is the values as the contents of an SQL IN (…): a placeholder each, or, beyond maxVars values, one
// JSON array read by json_each. A reference value without a type expands to a key per target type (145
// for Task's subject), and SQLite binds at most 32766 values in one statement.
func (b *builder) list(vals []string) string {
	if len(vals) > maxVars {
		data, _ := json.Marshal(vals) // strings always marshal
		return "SELECT value FROM json_each(" + b.arg(string(data)) + ")"
	}
	out := make([]string, len(vals))
	for i, v := range vals {
		out[i] = b.arg(v)
	}
	return strings.Join(out, ", ")
}

// keysWhere is "a.rid IN (the resources with a value of field meeting cond)" (cond on column v).
func (b *builder) keysWhere(a string, tid int64, field string, conds []string) string {
	f, ok := b.field(tid, field)
	if !ok || len(conds) == 0 {
		return "0"
	}
	return a + ".rid IN (SELECT rid FROM ixk WHERE f = " + f + " AND " + or(conds) + ")"
}

func not(negate bool) string {
	if negate {
		return "NOT "
	}
	return ""
}

func boolSQL(v bool) string {
	if v {
		return "1"
	}
	return "0"
}

// prefix is the condition "v starts with p" as a range the index seeks (no UTF-8 byte is 0xFF).
func (b *builder) prefix(p string) string {
	return "(v >= " + b.arg(p) + " AND v < " + b.arg(p+"\xff") + ")"
}

func (b *builder) criterion(a, typ string, tid int64, c search.Criterion) (string, error) {
	if c.Has != nil {
		return b.has(a, typ, c.Has)
	}
	p := c.Param
	if c.Modifier == "missing" {
		var parts []string
		for _, v := range c.Values {
			parts = append(parts, b.present(a, tid, p, !v.Missing))
		}
		return or(parts), nil
	}
	if c.Chain != nil {
		return b.chain(a, tid, c)
	}
	if c.OrMissing {
		c.OrMissing = false
		cond, err := b.criterion(a, typ, tid, c)
		if err != nil {
			return "", err
		}
		return "(" + cond + " OR " + b.present(a, tid, p, false) + ")", nil
	}
	switch p.Code {
	case "_id":
		var ids []string
		for _, v := range c.Values {
			ids = append(ids, v.Code)
		}
		return a + ".id " + not(c.Modifier == "not") + "IN (" + b.list(ids) + ")", nil
	case "_lastUpdated":
		return b.lastUpdated(a, c), nil
	}
	switch p.Type {
	case search.TypeToken:
		return b.token(a, tid, c), nil
	case search.TypeString:
		return b.str(a, tid, c), nil
	case search.TypeReference:
		if c.Modifier == "identifier" {
			return b.storedTokenMatch(a, tid, p.Field+search.SuffixIdentifier, c.Values, false), nil
		}
		var keys []string
		for _, v := range c.Values {
			keys = append(keys, search.ReferenceKeys(p, c.Modifier, v)...)
		}
		return b.keys(a, tid, p.Field, keys, false), nil
	case search.TypeURI:
		return b.uri(a, tid, c), nil
	case search.TypeDate:
		return b.date(a, tid, c), nil
	case search.TypeNumber, search.TypeQuantity:
		return b.numeric(a, tid, c), nil
	case search.TypeComposite:
		if p.Numeric() {
			return b.numeric(a, tid, c), nil
		}
		return b.tokenMatch(a, tid, p.Field, search.CompositeMatches(c), false), nil
	case search.TypeSpecial:
		return b.near(a, tid, c), nil
	}
	return "", fmt.Errorf("sqlite: search parameter type %s is not supported", p.Type)
}

// present is "a has (want) / has no (!want) value for p".
func (b *builder) present(a string, tid int64, p *search.Param, want bool) string {
	switch p.Code {
	case "_id", "_lastUpdated":
		return boolSQL(want)
	}
	table := "ixk"
	switch {
	case p.Type == search.TypeDate:
		table = "ixd"
	case p.Numeric():
		table = "ixq"
	}
	f, ok := b.field(tid, p.Field)
	if !ok {
		return boolSQL(!want)
	}
	return a + ".rid " + not(!want) + "IN (SELECT rid FROM " + table + " WHERE f = " + f + ")"
}

// or is the disjunction of parts, parenthesised. It nests as a balanced tree: SQLite parses "a OR b OR c"
// as ((a OR b) OR c), an expression tree as deep as the list is long, and refuses one deeper than 1000
// ("Expression tree is too large"), which a search with a thousand comma-separated values would build;
// balanced, n values nest log2(n) deep.
func or(parts []string) string {
	switch len(parts) {
	case 0:
		return "0"
	case 1:
		return parts[0]
	case 2:
		return "(" + parts[0] + " OR " + parts[1] + ")"
	}
	mid := len(parts) / 2
	return "(" + or(parts[:mid]) + " OR " + or(parts[mid:]) + ")"
}

func (b *builder) token(a string, tid int64, c search.Criterion) string {
	p := c.Param
	switch c.Modifier {
	case "text":
		// A word of the display text starts with the value.
		var conds []string
		for _, v := range c.Values {
			w := search.Normalize(v.Code)
			conds = append(conds, "("+b.prefix(w)+" OR instr(v, "+b.arg(" "+w)+") > 0)")
		}
		return b.keysWhere(a, tid, p.Field+search.SuffixText, conds)
	case "of-type":
		var keys []string
		for _, v := range c.Values {
			keys = append(keys, search.OfTypeKey(v.System, v.TypeCode, v.Code))
		}
		return b.keys(a, tid, p.Field, keys, false)
	}
	return b.storedTokenMatch(a, tid, p.Field, c.Values, c.Modifier == "not")
}

// storedTokenMatch is tokenMatch on a token field's stored keys (tokenkey.go).
func (b *builder) storedTokenMatch(a string, tid int64, field string, values []search.Value, negate bool) string {
	fid, ok := b.s.names.fieldID(tid, field)
	if !ok {
		return boolSQL(negate)
	}
	return b.tokenMatch(a, tid, field, storedTokenMatch(values, b.s.names.systemID, b.s.names.isOld(fid)), negate)
}

// tokenMatch is "a has (or, negated, has not) a value of field equal to one of m.Keys or starting with one
// of m.Prefixes".
func (b *builder) tokenMatch(a string, tid int64, field string, m search.TokenMatch, negate bool) string {
	if len(m.Prefixes) == 0 {
		return b.keys(a, tid, field, m.Keys, negate)
	}
	f, ok := b.field(tid, field)
	if !ok {
		return boolSQL(negate)
	}
	var conds []string
	if len(m.Keys) > 0 {
		conds = append(conds, "v IN ("+b.list(m.Keys)+")")
	}
	for _, p := range m.Prefixes {
		conds = append(conds, b.prefix(p))
	}
	return a + ".rid " + not(negate) + "IN (SELECT rid FROM ixk WHERE f = " + f + " AND " + or(conds) + ")"
}

func (b *builder) str(a string, tid int64, c search.Criterion) string {
	p := c.Param
	switch c.Modifier {
	case "exact":
		var keys []string
		for _, v := range c.Values {
			if !strings.Contains(v.Text, keySep) { // no stored string holds a NUL
				keys = append(keys, stringKey(v.Text))
			}
		}
		return b.keys(a, tid, p.Field, keys, false)
	case "contains":
		// In the normalised text only: before the stringKey's NUL, if it has one. The first match is
		// there when there is one, as the text searched for has no NUL.
		var conds []string
		for _, v := range c.Values {
			if n := search.Normalize(v.Text); !strings.Contains(n, keySep) {
				conds = append(conds, "instr(v, "+b.arg(n)+") BETWEEN 1 AND instr(v || X'00', X'00') - 1")
			}
		}
		return b.keysWhere(a, tid, p.Field, conds)
	}
	var conds []string
	for _, v := range c.Values {
		if n := search.Normalize(v.Text); !strings.Contains(n, keySep) {
			conds = append(conds, b.prefix(n))
		}
	}
	return b.keysWhere(a, tid, p.Field, conds)
}

func (b *builder) uri(a string, tid int64, c search.Criterion) string {
	p := c.Param
	var conds []string
	for _, v := range c.Values {
		switch c.Modifier {
		case "below":
			conds = append(conds, b.prefix(v.Text))
		case "above":
			// Every ancestor of the value at "/" boundaries, and the value itself.
			for i := len(v.Text); i > 0; i = strings.LastIndex(v.Text[:i], "/") {
				if strings.HasSuffix(v.Text[:i], ":/") || strings.HasSuffix(v.Text[:i], ":") {
					break
				}
				conds = append(conds, "v = "+b.arg(v.Text[:i]))
			}
		default:
			conds = append(conds, "v = "+b.arg(v.Text))
		}
	}
	return b.keysWhere(a, tid, p.Field, conds)
}

// date compares each of the resource's date ranges R = [lo, hi) with the value's range V = [Low, High)
// per search.html#prefix (as search.DateMatches): a resource matches when one of its values does.
func (b *builder) date(a string, tid int64, c search.Criterion) string {
	f, ok := b.field(tid, c.Param.Field)
	if !ok {
		return "0"
	}
	var conds []string
	for _, v := range c.Values {
		L, H := b.arg(lowMicros(v.Low)), b.arg(highMicros(v.High))
		inside := "(lo >= " + L + " AND hi <= " + H + ")"
		var cond string
		switch v.Prefix {
		case "ne":
			cond = "(lo < " + L + " OR hi > " + H + ")"
		case "gt":
			cond = "hi > " + H
		case "lt":
			cond = "lo < " + L
		case "ge":
			cond = "(hi > " + H + " OR " + inside + ")"
		case "le":
			cond = "(lo < " + L + " OR " + inside + ")"
		case "sa":
			cond = "lo >= " + H
		case "eb":
			cond = "hi <= " + L
		case "ap":
			pad := search.ApproximatePad(v, b.now)
			cond = "(lo < " + b.arg(highMicros(v.High.Add(pad))) + " AND hi > " + b.arg(lowMicros(v.Low.Add(-pad))) + ")"
		default:
			cond = inside
		}
		conds = append(conds, cond)
	}
	return a + ".rid IN (SELECT rid FROM ixd WHERE f = " + f + " AND " + or(conds) + ")"
}

// lastUpdated compares meta.lastUpdated, an instant (R = [t, t]), with each value.
func (b *builder) lastUpdated(a string, c search.Criterion) string {
	col := a + ".lu"
	var parts []string
	for _, v := range c.Values {
		L, H := b.arg(ceilMillis(v.Low)), b.arg(ceilMillis(v.High))
		switch v.Prefix {
		case "ne":
			parts = append(parts, "("+col+" < "+L+" OR "+col+" >= "+H+")")
		case "gt", "sa":
			parts = append(parts, col+" >= "+H)
		case "lt", "eb":
			parts = append(parts, col+" < "+L)
		case "ge":
			parts = append(parts, col+" >= "+L)
		case "le":
			parts = append(parts, col+" < "+H)
		case "ap":
			pad := search.ApproximatePad(v, b.now)
			parts = append(parts, "("+col+" >= "+b.arg(ceilMillis(v.Low.Add(-pad)))+" AND "+col+" < "+b.arg(ceilMillis(v.High.Add(pad)))+")")
		default:
			parts = append(parts, "("+col+" >= "+L+" AND "+col+" < "+H+")")
		}
	}
	return or(parts)
}

// ceilMillis is t in Unix milliseconds rounded up: an integer millisecond m is >= t exactly when
// m >= ceilMillis(t).
func ceilMillis(t time.Time) int64 {
	ms := t.UnixMilli()
	if t.Nanosecond()%1e6 != 0 && t.UnixNano() > 0 {
		ms++
	}
	return ms
}

// chain: the reference parameter points at a resource of the chained type meeting the chained criterion.
func (b *builder) chain(a string, tid int64, c search.Criterion) (string, error) {
	ctid, ok := b.s.names.typeID(c.Chain.Type)
	f, fok := b.field(tid, c.Param.Field)
	if !ok || !fok {
		return "0", nil
	}
	inner := b.alias()
	cond, err := b.where(inner, c.Chain.Type, ctid, []search.Criterion{c.Chain.Criterion})
	if err != nil {
		return "", err
	}
	return a + ".rid IN (SELECT rid FROM ixk WHERE f = " + f + " AND v IN (SELECT " + b.arg(c.Chain.Type+"/") + " || " +
		inner + ".id FROM res " + inner + " WHERE " + cond + "))", nil
}

// has: some resource of h.Type meeting h.Criterion refers to the candidate through h.Ref.
func (b *builder) has(a, typ string, h *search.Has) (string, error) {
	htid, ok := b.s.names.typeID(h.Type)
	if !ok {
		return "0", nil
	}
	f, ok := b.field(htid, h.Ref.Field)
	if !ok {
		return "0", nil
	}
	inner := b.alias()
	cond, err := b.where(inner, h.Type, htid, []search.Criterion{h.Criterion})
	if err != nil {
		return "", err
	}
	// The keys "typ/id": a range of the index, from which the ids are cut.
	lo, hi := typ+"/", typ+"0" // '0' follows '/'
	return a + ".id IN (SELECT substr(k.v, " + b.arg(len(lo)+1) + ") FROM ixk k WHERE k.f = " + f +
		" AND k.v > " + b.arg(lo) + " AND k.v < " + b.arg(hi) + " AND k.rid IN (SELECT " + inner + ".rid FROM res " + inner + " WHERE " + cond + "))", nil
}

// compartment: the resource refers to the compartment's resource through one of the compartment's
// parameters, or is that resource.
func (b *builder) compartment(a string, tid int64, cmp *search.Compartment) string {
	var fids []string
	for _, p := range cmp.Params {
		if f, ok := b.field(tid, p.Field); ok {
			fids = append(fids, f)
		}
	}
	var parts []string
	if len(fids) > 0 {
		parts = append(parts, a+".rid IN (SELECT rid FROM ixk WHERE f IN ("+strings.Join(fids, ", ")+") AND v = "+b.arg(cmp.Type+"/"+cmp.ID)+")")
	}
	if cmp.Self {
		parts = append(parts, a+".id = "+b.arg(cmp.ID))
	}
	if len(parts) == 0 {
		return "0"
	}
	return or(parts)
}

// sortSpec is the result order: SQL expressions, each ascending or descending, ending with the id.
type sortSpec struct {
	exprs []string
	desc  []bool
	joins string
	// walkFID is the field of the first key when it can be walked in order (srt_walk, alias s0: a date or
	// string parameter), otherwise 0; otherJoins are joins without s0's.
	walkFID    int64
	otherJoins string
}

// sortKeys maps _sort to expressions: a parameter's sort key (srt, NULL when missing: first ascending,
// last descending, as in MongoDB), lastUpdated or the id; the id always ends the order.
func (b *builder) sortKeys(a string, tid int64, keys []search.SortKey) sortSpec {
	var out sortSpec
	for i, k := range keys {
		switch k.Param.Code {
		case "_id":
			out.exprs, out.desc = append(out.exprs, a+".id"), append(out.desc, k.Descending)
			return out
		case "_lastUpdated":
			out.exprs, out.desc = append(out.exprs, a+".lu"), append(out.desc, k.Descending)
			continue
		}
		if !walkable(k.Param.Type) {
			out.exprs, out.desc = append(out.exprs, b.leastKey(a, tid, k.Param)), append(out.desc, k.Descending)
			continue
		}
		f, ok := b.field(tid, k.Param.Field+search.SuffixSort)
		if !ok {
			out.exprs, out.desc = append(out.exprs, "NULL"), append(out.desc, k.Descending)
			continue
		}
		s := "s" + strconv.Itoa(i)
		join := " LEFT JOIN srt " + s + " ON " + s + ".rid = " + a + ".rid AND " + s + ".f = " + f
		out.joins += join
		if i == 0 {
			out.walkFID, _ = b.s.names.fieldID(tid, k.Param.Field+search.SuffixSort)
		} else {
			out.otherJoins += join
		}
		out.exprs, out.desc = append(out.exprs, s+".v"), append(out.desc, k.Descending)
	}
	out.exprs, out.desc = append(out.exprs, a+".id"), append(out.desc, false)
	return out
}

// walkable reports whether a parameter type's sort keys are in srt (and its walk): date, string, number and
// quantity.
func walkable(ptype string) bool {
	switch ptype {
	case search.TypeDate, search.TypeString, search.TypeNumber, search.TypeQuantity:
		return true
	}
	return false
}

// leastKey is the sort key of a token, reference or uri parameter, which srt does not hold: the least of
// the values Registry.Index would have chosen, read from the resource's ixk rows — for a token, its codes
// and values (every non-empty code or value has a codeKey "c:code␀…", tokenkey.go, or in a file of version
// 7 a "c:code" or "n:code" key); otherwise its values (references and uris are stored as they are). NULL
// when it has none.
func (b *builder) leastKey(a string, tid int64, p *search.Param) string {
	f, ok := b.field(tid, p.Field)
	if !ok || p.Type != search.TypeToken && p.Type != search.TypeReference && p.Type != search.TypeURI {
		return "NULL" // other types have no index values, so no sort key
	}
	if p.Type == search.TypeToken {
		// A codeKey's code ends at its NUL, and a system without a code (an empty code) has none
		// (tokenkey.go); "n:" keys are those of files of version 7.
		return "(SELECT min(substr(k.v, 3, instr(k.v || X'00', X'00') - 3)) FROM ixk k WHERE k.rid = " + a + ".rid AND k.f = " + f +
			" AND (k.v GLOB 'c:*' OR k.v GLOB 'n:*') AND instr(k.v || X'00', X'00') > 3)"
	}
	return "(SELECT min(k.v) FROM ixk k WHERE k.rid = " + a + ".rid AND k.f = " + f + ")"
}

// keyset is the condition "strictly after the boundary values" in the (possibly reversed) order.
func (b *builder) keyset(k sortSpec, vals []any, backward bool) string {
	var branches []string
	for i := range k.exprs {
		var branch []string
		for j := 0; j < i; j++ {
			if vals[j] == nil {
				branch = append(branch, k.exprs[j]+" IS NULL")
			} else {
				branch = append(branch, k.exprs[j]+" = "+b.arg(vals[j]))
			}
		}
		desc := k.desc[i] != backward
		e := k.exprs[i]
		switch {
		case vals[i] == nil && !desc:
			branch = append(branch, e+" IS NOT NULL")
		case vals[i] == nil && desc:
			continue // nothing sorts after NULL descending
		case !desc:
			branch = append(branch, e+" > "+b.arg(vals[i]))
		default:
			branch = append(branch, "("+e+" < "+b.arg(vals[i])+" OR "+e+" IS NULL)")
		}
		branches = append(branches, "("+strings.Join(branch, " AND ")+")")
	}
	if len(branches) == 0 {
		return "0"
	}
	return "(" + strings.Join(branches, " OR ") + ")"
}

// searchCursor is the position after (or, going backward, before) which a page starts: the sort-key
// values of the boundary resource (string, integer or null).
type searchCursor struct {
	Values   []any `json:"v"`
	Backward bool  `json:"b,omitempty"`
}

func (c *searchCursor) encode() string {
	data, _ := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(data)
}

func decodeSearchCursor(s string, n int) (*searchCursor, error) {
	data, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return nil, storage.ErrBadCursor
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var c searchCursor
	if err := dec.Decode(&c); err != nil || len(c.Values) != n {
		return nil, storage.ErrBadCursor
	}
	for i, v := range c.Values {
		switch t := v.(type) {
		case nil, string:
		case json.Number:
			n, err := t.Int64()
			if err != nil {
				return nil, storage.ErrBadCursor
			}
			c.Values[i] = n
		default:
			return nil, storage.ErrBadCursor
		}
	}
	return &c, nil
}

// cursorValues turns scanned sort values into cursor values.
func cursorValues(vals []any) []any {
	out := make([]any, len(vals))
	for i, v := range vals {
		switch t := v.(type) {
		case []byte:
			out[i] = string(t)
		default:
			out[i] = t
		}
	}
	return out
}
