// Package confine is the store decorator that confines a request to one patient's compartment (SMART
// patient/ scopes; the official Patient CompartmentDefinition). It acts only on calls whose context carries
// storage.WithPatientCompartment (the interaction layer sets it when a request's access rests on patient/
// scopes); other calls pass through untouched and cost nothing.
//
// Under confinement:
//   - Search runs inside the compartment: the query gets the compartment of its type (a type outside the
//     compartment finds nothing; a compartment search for another patient finds nothing). Chained criteria
//     and _has, whose conditions are evaluated on other resources, are refused (storage.ErrConfined): their
//     answer could tell something about a resource outside the compartment. A search of another
//     compartment (Practitioner/x/Observation) finds its members that are also in the patient's
//     compartment (search.Compartment.Within).
//   - Read, VRead and History return only versions in the compartment (each version judged by its own
//     content); a resource outside it reads as ErrNotFound, so its existence is not revealed.
//   - Create, Update, Delete and Transact refuse (*storage.ConfinementError) a write whose resource is
//     outside the compartment before the write (when it exists) or would be after it.
//   - Distinct (the $meta summaries) and Referrers are refused: they answer across resources.
//
// Type and system history under confinement are filtered version by version, so a page may hold fewer
// versions than its size and has no total.
package confine

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/careflow/careflow/fhir/search"
	"github.com/careflow/careflow/storage"
)

// errChain refuses chained criteria and _has in a confined search; errAcross refuses calls that answer across
// resources (Distinct, Referrers, Exists).
var (
	errChain  = fmt.Errorf("%w: chained parameters and _has are evaluated on resources outside the patient's compartment; they need user/ or system/ scopes", storage.ErrConfined)
	errAcross = fmt.Errorf("%w: this answer spans resources outside the patient's compartment; it needs user/ or system/ scopes", storage.ErrConfined)
)

// Store is the decorator.
type Store struct {
	storage.Store
	registry     *search.Registry
	compartments *search.Compartments
}

// New returns store confined, per call, to the patient compartment the call's context names.
func New(store storage.Store, registry *search.Registry, compartments *search.Compartments) *Store {
	return &Store{Store: store, registry: registry, compartments: compartments}
}

// ConfinesPatients reports that this store enforces storage.WithPatientCompartment (the interaction layer
// refuses to run with authorization on without it).
func (s *Store) ConfinesPatients() bool { return true }

// compartment returns the compartment of patient for type typ (ok false: typ has no member in it).
func (s *Store) compartment(patient, typ string) (*search.Compartment, bool) {
	return s.compartments.Lookup("Patient", patient, typ)
}

// Contains reports whether version v (its own content) is in patient's compartment.
func (s *Store) contains(patient string, v *storage.Version) (bool, error) {
	if v.Type == "Patient" {
		return v.ID == patient, nil
	}
	if v.Deleted || len(v.Body) == 0 {
		return false, nil
	}
	index, err := s.indexOf(v)
	if err != nil {
		return false, err
	}
	return s.indexIn(patient, v.Type, v.ID, index), nil
}

// indexOf extracts the search index of version v (its content).
func (s *Store) indexOf(v *storage.Version) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(v.Body))
	dec.UseNumber()
	var tree map[string]any
	if err := dec.Decode(&tree); err != nil {
		return nil, fmt.Errorf("confine: decode %s/%s: %w", v.Type, v.ID, err)
	}
	index, err := s.registry.Index(v.Type, tree)
	if err != nil {
		return nil, fmt.Errorf("confine: index %s/%s: %w", v.Type, v.ID, err)
	}
	return index, nil
}

// indexIn reports whether a resource with these index values is in patient's compartment: one of the
// compartment's reference parameters names the patient.
func (s *Store) indexIn(patient, typ, id string, index map[string]any) bool {
	if typ == "Patient" {
		return id == patient
	}
	cmp, ok := s.compartment(patient, typ)
	if !ok {
		return false
	}
	for _, p := range cmp.Params {
		c := []search.Criterion{{Param: p, Values: []search.Value{{RefType: "Patient", RefID: patient}}}}
		if matched, supported := search.Match(c, id, index); supported && matched {
			return true
		}
	}
	return false
}

// Search implements storage.Store.
func (s *Store) Search(ctx context.Context, q *search.Query) (*storage.SearchPage, error) {
	if sc := ScopesOf(ctx); sc != nil {
		var err error
		if q, err = scopedSearch(sc, q); err != nil {
			return nil, err
		}
	}
	patient := storage.PatientCompartment(ctx)
	if patient == "" {
		return s.Store.Search(ctx, q)
	}
	for _, c := range q.Criteria {
		if c.Chain != nil || c.Has != nil {
			return nil, errChain
		}
	}
	if q.Compartment != nil && q.Compartment.Type == "Patient" && q.Compartment.ID != patient {
		return &storage.SearchPage{Total: 0}, nil
	}
	cmp, ok := s.compartment(patient, q.Type)
	if !ok {
		return &storage.SearchPage{Total: 0}, nil
	}
	if q.Compartment != nil && q.Compartment.Type != "Patient" {
		// Another compartment (Practitioner/x/Observation): its members that are also the patient's.
		other := *q.Compartment
		other.Within = cmp
		cmp = &other
	}
	confined := *q
	confined.Compartment = cmp
	return s.Store.Search(ctx, &confined)
}

// Read implements storage.Store.
func (s *Store) Read(ctx context.Context, typ, id string) (*storage.Version, error) {
	v, err := s.read(ctx, typ, id)
	if ScopesOf(ctx) == nil {
		return v, err
	}
	return s.checkScopedRead(ctx, v, err)
}

// read reads under patient confinement.
func (s *Store) read(ctx context.Context, typ, id string) (*storage.Version, error) {
	v, err := s.Store.Read(ctx, typ, id)
	patient := storage.PatientCompartment(ctx)
	if patient == "" {
		return v, err
	}
	var gone *storage.GoneError
	switch {
	case errors.As(err, &gone):
		// A deleted resource: judged by its last content (a deletion version has none).
		if in, cerr := s.lastIn(ctx, patient, gone.Deleted); cerr != nil || !in {
			return nil, notFound(cerr)
		}
		return v, err
	case err != nil:
		return v, err
	}
	if in, cerr := s.contains(patient, v); cerr != nil || !in {
		return nil, notFound(cerr)
	}
	return v, nil
}

// lastIn reports whether the version before deletion d was in the compartment.
func (s *Store) lastIn(ctx context.Context, patient string, d *storage.Version) (bool, error) {
	if d == nil || d.VersionID < 2 {
		return false, nil
	}
	prev, err := s.Store.VRead(ctx, d.Type, d.ID, d.VersionID-1)
	if err != nil {
		return false, err
	}
	return s.contains(patient, prev)
}

func notFound(cause error) error {
	if cause != nil {
		return cause
	}
	return storage.ErrNotFound
}

// VRead implements storage.Store.
func (s *Store) VRead(ctx context.Context, typ, id string, versionID int64) (*storage.Version, error) {
	v, err := s.vread(ctx, typ, id, versionID)
	if ScopesOf(ctx) == nil {
		return v, err
	}
	return s.checkScopedRead(ctx, v, err)
}

// vread reads a version under patient confinement.
func (s *Store) vread(ctx context.Context, typ, id string, versionID int64) (*storage.Version, error) {
	v, err := s.Store.VRead(ctx, typ, id, versionID)
	patient := storage.PatientCompartment(ctx)
	if patient == "" || err != nil {
		return v, err
	}
	in, cerr := s.contains(patient, v)
	if v.Deleted {
		in, cerr = s.lastIn(ctx, patient, v)
	}
	if cerr != nil || !in {
		return nil, notFound(cerr)
	}
	return v, nil
}

// History implements storage.Store: under confinement each version is judged by its own content.
func (s *Store) History(ctx context.Context, q storage.HistoryQuery) (*storage.HistoryPage, error) {
	page, err := s.Store.History(ctx, q)
	patient, sc := storage.PatientCompartment(ctx), ScopesOf(ctx)
	if patient == "" && sc == nil || err != nil {
		return page, err
	}
	kept := page.Versions[:0:0]
	for _, v := range page.Versions {
		in := true
		if patient != "" {
			in, err = s.contains(patient, v)
			if v.Deleted {
				in, err = s.lastIn(ctx, patient, v)
			}
			if err != nil {
				return nil, err
			}
		}
		if conj, ok := sc[v.Type]; ok && in {
			if in, err = s.versionMatches(ctx, conj, v); err != nil {
				return nil, err
			}
		}
		if in {
			kept = append(kept, v)
		}
	}
	out := *page
	out.Versions, out.Total = kept, -1
	return &out, nil
}

// checkWrite refuses a write of w whose resource is outside the compartment before or after it.
func (s *Store) checkWrite(ctx context.Context, patient string, w storage.Write) error {
	if !s.indexIn(patient, w.Type, w.ID, w.Index) {
		return &storage.ConfinementError{Type: w.Type, ID: w.ID, Patient: patient}
	}
	return s.checkExisting(ctx, patient, w.Type, w.ID)
}

// checkExisting refuses a change of typ/id when it exists outside the compartment.
func (s *Store) checkExisting(ctx context.Context, patient, typ, id string) error {
	if id == "" {
		return nil
	}
	cur, err := s.Store.Read(ctx, typ, id)
	var gone *storage.GoneError
	switch {
	case errors.Is(err, storage.ErrNotFound), errors.As(err, &gone):
		return nil // nothing there (a re-creation over a deleted resource is judged by what it writes)
	case err != nil:
		return err
	}
	in, err := s.contains(patient, cur)
	if err != nil {
		return err
	}
	if !in {
		return &storage.ConfinementError{Type: typ, ID: id, Patient: patient, Before: true}
	}
	return nil
}

// Create implements storage.Store.
func (s *Store) Create(ctx context.Context, w storage.Write) (*storage.Version, error) {
	if patient := storage.PatientCompartment(ctx); patient != "" && !s.indexIn(patient, w.Type, w.ID, w.Index) {
		return nil, &storage.ConfinementError{Type: w.Type, ID: w.ID, Patient: patient}
	}
	if err := s.checkScopedWrite(ctx, w, false); err != nil {
		return nil, err
	}
	return s.Store.Create(ctx, w)
}

// Update implements storage.Store.
func (s *Store) Update(ctx context.Context, w storage.Write, pre storage.Precondition) (*storage.Version, bool, error) {
	if patient := storage.PatientCompartment(ctx); patient != "" {
		if err := s.checkWrite(ctx, patient, w); err != nil {
			return nil, false, err
		}
	}
	if err := s.checkScopedWrite(ctx, w, true); err != nil {
		return nil, false, err
	}
	return s.Store.Update(ctx, w, pre)
}

// Delete implements storage.Store.
func (s *Store) Delete(ctx context.Context, typ, id string, pre storage.Precondition) (*storage.Version, error) {
	if patient := storage.PatientCompartment(ctx); patient != "" {
		if err := s.checkExisting(ctx, patient, typ, id); err != nil {
			return nil, err
		}
	}
	if conj, ok := ScopesOf(ctx)[typ]; ok {
		if err := s.checkScopedExisting(ctx, conj, typ, id); err != nil {
			return nil, err
		}
	}
	return s.Store.Delete(ctx, typ, id, pre)
}

// Transact implements storage.Store: every op is checked before anything is written.
func (s *Store) Transact(ctx context.Context, ops []storage.TxOp) ([]storage.TxResult, error) {
	if patient := storage.PatientCompartment(ctx); patient != "" {
		for i, op := range ops {
			var err error
			switch op.Kind {
			case storage.TxDelete:
				err = s.checkExisting(ctx, patient, op.Write.Type, op.Write.ID)
			case storage.TxCreate:
				if !s.indexIn(patient, op.Write.Type, op.Write.ID, op.Write.Index) {
					err = &storage.ConfinementError{Type: op.Write.Type, ID: op.Write.ID, Patient: patient}
				}
			default:
				err = s.checkWrite(ctx, patient, op.Write)
			}
			if err != nil {
				return nil, &storage.TxError{Index: i, Type: op.Write.Type, ID: op.Write.ID, Err: err}
			}
		}
	}
	if sc := ScopesOf(ctx); sc != nil {
		for i, op := range ops {
			var err error
			switch op.Kind {
			case storage.TxDelete:
				if conj, ok := sc[op.Write.Type]; ok {
					err = s.checkScopedExisting(ctx, conj, op.Write.Type, op.Write.ID)
				}
			default:
				err = s.checkScopedWrite(ctx, op.Write, op.Kind != storage.TxCreate)
			}
			if err != nil {
				return nil, &storage.TxError{Index: i, Type: op.Write.Type, ID: op.Write.ID, Err: err}
			}
		}
	}
	return s.Store.Transact(ctx, ops)
}

// Distinct implements storage.Store.
func (s *Store) Distinct(ctx context.Context, typ string, fields ...string) (map[string][]string, error) {
	if _, scoped := ScopesOf(ctx)[typ]; scoped || storage.PatientCompartment(ctx) != "" {
		return nil, errAcross
	}
	return s.Store.Distinct(ctx, typ, fields...)
}

// Referrers implements storage.Store.
func (s *Store) Referrers(ctx context.Context, keys []string, limit int) ([]string, int, error) {
	if ScopesOf(ctx) != nil || storage.PatientCompartment(ctx) != "" {
		return nil, 0, errAcross
	}
	return s.Store.Referrers(ctx, keys, limit)
}

// Exists implements storage.Store.
func (s *Store) Exists(ctx context.Context, typ string, ids []string) (map[string]bool, error) {
	if _, scoped := ScopesOf(ctx)[typ]; scoped || storage.PatientCompartment(ctx) != "" {
		return nil, errAcross
	}
	return s.Store.Exists(ctx, typ, ids)
}

// ReadConsistent passes the wrapped store's consistent reads through (storage.ConsistentReader).
func (s *Store) ReadConsistent(ctx context.Context, types []string, read func(ctx context.Context) error) error {
	return storage.ReadConsistent(ctx, s.Store, types, read)
}
