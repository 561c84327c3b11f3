// Package workflows bundles the coordination workflow services that the composite adapters (summary,
// worklist) run together, sharing one memo so that a search several workflows repeat runs once.
package workflows

import (
	"github.com/careflow/careflow/adapters/careplan"
	"github.com/careflow/careflow/adapters/coverage"
	"github.com/careflow/careflow/adapters/internal/fetch"
	"github.com/careflow/careflow/adapters/medication"
	"github.com/careflow/careflow/adapters/outreach"
	"github.com/careflow/careflow/adapters/priorauth"
	"github.com/careflow/careflow/adapters/referral"
	"github.com/careflow/careflow/adapters/scheduling"
	"github.com/careflow/careflow/adapters/transitions"
	"github.com/careflow/careflow/fhir/search"
)

// batchesAhead is how many batches of a population's lookups the workflows search ahead of the one they
// are decoding (fetch.Memo.SearchAhead): the day's worklist looks up thousands of patients' coverages,
// appointments and medications in batches of 500.
const batchesAhead = 2

// Set is the workflow services of one computation (one summary, one worklist build).
type Set struct {
	F     fetch.Fetcher
	Sched *scheduling.Scheduler
	Plans *careplan.Service
	Meds  *medication.Service
	Cov   *coverage.Service
	// The second generation: transitional care, referrals, outreach, prior authorization.
	Transitions *transitions.Service
	Referrals   *referral.Service
	Outreach    *outreach.Service
	PriorAuth   *priorauth.Service
}

// New returns a Set reading store through a fresh memo; pageSize > 0 overrides the page size; with keep,
// the memo keeps the pages of searches of those types only (see fetch.NewMemo).
func New(store fetch.Searcher, registry *search.Registry, pageSize int, keep ...string) *Set {
	m := fetch.NewMemo(store, keep...).SearchAhead(batchesAhead)
	s := &Set{
		F:     fetch.Fetcher{Store: m, Registry: registry, PageSize: pageSize},
		Sched: scheduling.New(m, registry),
		Plans: careplan.New(m, registry),
		Meds:  medication.New(m, registry),
		Cov:   coverage.New(m, registry),

		Transitions: transitions.New(m, registry),
		Referrals:   referral.New(m, registry),
		Outreach:    outreach.New(m, registry),
		PriorAuth:   priorauth.New(m, registry),
	}
	if pageSize > 0 {
		s.Sched, s.Plans, s.Meds, s.Cov = s.Sched.WithPageSize(pageSize), s.Plans.WithPageSize(pageSize),
			s.Meds.WithPageSize(pageSize), s.Cov.WithPageSize(pageSize)
		s.Transitions, s.Referrals, s.Outreach, s.PriorAuth = s.Transitions.WithPageSize(pageSize),
			s.Referrals.WithPageSize(pageSize), s.Outreach.WithPageSize(pageSize), s.PriorAuth.WithPageSize(pageSize)
	}
	return s
}
