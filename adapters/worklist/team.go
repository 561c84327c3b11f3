package worklist

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/careflow/careflow/adapters/internal/fetch"
	"github.com/careflow/careflow/adapters/internal/fhirread"
)

// # A worklist a team shares
//
// Owners and pools. Task.owner names who is expected to act: a person (Practitioner, PractitionerRole) or a
// pool — a CareTeam, an Organization — and a Task may instead name the kind of performer it needs
// (Task.performerType, the codes of PractitionerRole.code). $worklist?owner=X lists the Tasks owned by X and
// by the pools X belongs to:
//
//   - X's roles: for Practitioner/x, the active PractitionerRoles whose practitioner is x; for
//     PractitionerRole/r, r itself;
//   - the organizations of those roles;
//   - the active CareTeams that have X or one of those roles as a participant member;
//   - and the Tasks without an owner whose performerType has a code of one of those roles.
//
// Claiming. A coordinator claims an item by storing its Task with owner = themselves, status accepted and
// businessStatus claimed (ClaimedCode of BusinessStatusURL): with "If-None-Match: *" the first time (the
// Task is derived and not stored yet: exactly one of two concurrent claims creates it, the other gets a
// 412), with If-Match on the version they read afterwards (reassigning, releasing). Releasing sets the owner
// back to the pool (or removes it), status requested and businessStatus released. The worklist never writes:
// claims are ordinary FHIR updates, versioned and visible to any client.
//
// Views (Options.Unassigned, DueFrom/DueTo; the $worklist view parameter): due today (due within the
// reference day), overdue (due before the reference time), unassigned (no owner, or a pool as owner, and not
// claimed).
//
// Escalation (Options.Escalate, on in $worklist): an open item not yet stored that is past due rises in
// priority — routine to urgent once it is a day overdue, to asap once it is seven days overdue (never to
// stat: careflow does not decide clinical emergencies). A stored Task keeps the priority a coordinator gave
// it.

// BusinessStatusURL is the canonical URL of the worklist business-status codes (Task.businessStatus).
const BusinessStatusURL = "http://careflow.example/fhir/CodeSystem/worklist-business-status"

// Business status codes.
const (
	ClaimedCode  = "claimed"
	ReleasedCode = "released"
)

// Escalation steps: how long past due an item must be to reach a priority.
const (
	escalateUrgentAfter = 24 * time.Hour
	escalateASAPAfter   = 7 * 24 * time.Hour
)

// escalate returns the priority of an open, not stored item due at due, at now.
func escalate(priority string, due, now time.Time) string {
	late := now.Sub(due)
	want := priority
	switch {
	case late >= escalateASAPAfter:
		want = "asap"
	case late >= escalateUrgentAfter:
		want = "urgent"
	}
	if rank(want) > rank(priority) {
		return want
	}
	return priority
}

// withPriority returns the Task resource body with its priority set to p.
func withPriority(body json.RawMessage, p string) (json.RawMessage, error) {
	var t taskResource
	if err := json.Unmarshal(body, &t); err != nil {
		return nil, fmt.Errorf("worklist: escalate: %w", err)
	}
	t.Priority = p
	data, err := marshal(t)
	if err != nil {
		return nil, fmt.Errorf("worklist: escalate: %w", err)
	}
	return data, nil
}

// pools is what an owner filter accepts: the owner, its roles and the pools it belongs to (normalised
// references), and the role codes it can perform (system|code and |code).
type pools struct {
	owners map[string]bool
	codes  map[string]bool
}

// ownerCandidates returns (copies of) the derived Tasks an owner filter with pools p can accept once merged
// with their stored versions: those it accepts as derived, and those stored with an owner among p's
// owners, or with none and one of p's role codes as performerType (a coordinator may have reassigned an
// item to the pool). The stored state is read only for those: two searches on Task's owner and performer
// instead of a lookup of every derived id.
func (b *run) ownerCandidates(ctx context.Context, derived []Task, p *pools) ([]Task, error) {
	stored := map[string]bool{}
	owners := slices.Sorted(maps.Keys(p.owners))
	vs, err := b.F.In(ctx, "Task", "owner", owners, url.Values{})
	if err != nil {
		return nil, fmt.Errorf("worklist: Tasks of the pools: %w", err)
	}
	for _, v := range vs {
		stored[v.ID] = true
	}
	if len(p.codes) > 0 {
		var codes []string
		for _, k := range slices.Sorted(maps.Keys(p.codes)) {
			system, code, _ := strings.Cut(k, "|")
			codes = append(codes, fetch.TokenValue(system, code))
		}
		vs, err := b.F.All(ctx, "Task", url.Values{"performer": {strings.Join(codes, ",")}})
		if err != nil {
			return nil, fmt.Errorf("worklist: Tasks of the pools' roles: %w", err)
		}
		for _, v := range vs {
			stored[v.ID] = true
		}
	}
	var out []Task
	for i := range derived {
		if p.accepts(&derived[i]) || stored[derived[i].ID] {
			out = append(out, derived[i])
		}
	}
	return out, nil
}

func (p *pools) accepts(t *Task) bool {
	if t.Owner != "" {
		return p.owners[t.Owner]
	}
	for _, c := range t.PerformerTypes {
		if p.codes[c] {
			return true
		}
	}
	return false
}

// poolsOf resolves the pools of owner (see the package documentation, "A worklist a team shares").
func (b *run) poolsOf(ctx context.Context, owner string) (*pools, error) {
	owner = fhirread.RefKey(owner)
	p := &pools{owners: map[string]bool{owner: true}, codes: map[string]bool{}}
	members := []string{owner}
	typ, id := fhirread.RefType(owner), fhirread.RefID(owner)
	var roleQuery url.Values
	switch typ {
	case "Practitioner":
		roleQuery = url.Values{"practitioner": {owner}}
	case "PractitionerRole":
		roleQuery = url.Values{"_id": {id}}
	default:
		return p, nil // a pool or another kind of owner: its own Tasks only
	}
	vs, err := b.F.All(ctx, "PractitionerRole", roleQuery)
	if err != nil {
		return nil, fmt.Errorf("worklist: pools of %s: %w", owner, err)
	}
	for _, v := range vs {
		var r struct {
			fhirread.Head
			Active       *bool                      `json:"active"`
			Organization *fhirread.Reference        `json:"organization"`
			Code         []fhirread.CodeableConcept `json:"code"`
		}
		if err := fhirread.Decode(v.Body, "PractitionerRole", &r); err != nil {
			return nil, fmt.Errorf("worklist: PractitionerRole/%s: %w", v.ID, err)
		}
		if r.Active != nil && !*r.Active {
			continue
		}
		key := "PractitionerRole/" + v.ID
		if !p.owners[key] {
			members = append(members, key)
		}
		p.owners[key] = true
		if org := r.Organization.Key(); org != "" {
			p.owners[org] = true
		}
		for _, c := range r.Code {
			for _, cd := range c.Coding {
				if cd.Code != "" {
					p.codes[cd.System+"|"+cd.Code] = true
					p.codes["|"+cd.Code] = true
				}
			}
		}
	}
	sort.Strings(members[1:])
	teams, err := b.F.In(ctx, "CareTeam", "participant", members, url.Values{"status": {"active"}})
	if err != nil {
		return nil, fmt.Errorf("worklist: care teams of %s: %w", owner, err)
	}
	for _, v := range teams {
		p.owners["CareTeam/"+v.ID] = true
	}
	return p, nil
}

// isPool reports whether an owner reference names a pool rather than a person.
func isPool(owner string) bool {
	switch fhirread.RefType(owner) {
	case "CareTeam", "Organization", "Group", "HealthcareService":
		return true
	}
	return false
}

// unassigned reports whether a Task waits for someone to take it: no owner, or a pool, and not claimed.
func unassigned(t *Task) bool {
	return (t.Owner == "" || isPool(t.Owner)) && t.BusinessStatus != ClaimedCode
}

// performerTypeKeys returns the system|code and |code keys of performerType codings.
func performerTypeKeys(cs []fhirread.CodeableConcept) []string {
	var out []string
	for _, c := range cs {
		for _, cd := range c.Coding {
			if cd.Code != "" {
				out = append(out, cd.System+"|"+cd.Code)
			}
		}
	}
	return slices.Compact(out)
}
