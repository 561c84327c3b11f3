package auth_test

import (
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/careflow/careflow/auth"
	"github.com/careflow/careflow/auth/scope"
)

var served = []string{"Patient", "CarePlan", "Appointment", "AllergyIntolerance", "MedicationStatement", "Coverage", "Task"}

// expected is the authorization table as decided (docs/SECURITY.md explains each choice): the permissions
// on the request's type and on the other types. Written out here independently of the Go table, so an
// accidental change to either fails TestInteractionTableAsDecided.
var expected = map[string][2]string{
	"capabilities": {"public", ""}, "smart-configuration": {"public", ""}, "operation-definition": {"public", ""},
	"health": {"public", ""}, "app": {"public", ""},
	"read": {"r", ""}, "vread": {"r", ""}, "history-instance": {"r", ""},
	"update": {"u", ""}, "update-create": {"cu", ""}, "patch": {"u", ""}, "delete": {"d", ""},
	"create": {"c", ""}, "conditional-create": {"cs", ""}, "conditional-update": {"us", ""}, "conditional-update-create": {"cus", ""},
	"conditional-patch": {"us", ""}, "conditional-delete": {"ds", ""},
	"search-type": {"s", ""}, "history-type": {"s", ""}, "search-compartment": {"s", ""},
	"search-system": {"", "s"}, "history-system": {"", "s"},
	"search-include": {"", "r"}, "search-revinclude": {"", "s"}, "search-chain": {"", "s"},
	"batch": {"entries", ""}, "transaction": {"entries", ""}, "conditional-reference": {"s", ""},
	"$validate-type": {"", ""}, "$validate-instance": {"r", ""},
	"$meta-system": {"", "s"}, "$meta-type": {"s", ""}, "$meta-instance": {"r", ""}, "$meta-add": {"u", ""}, "$meta-delete": {"u", ""},
	"$everything": {"r", "s"}, "$summary": {"r", "s"}, "$worklist": {"", "s"}, "$draft-message": {"r", "s"},
	"$find": {"s", "s"}, "$hold": {"cu", "u"}, "$book": {"cu", "u"},
}

func TestInteractionTableAsDecided(t *testing.T) {
	pol := auth.NewPolicy(served)
	seen := map[string]bool{}
	for _, in := range pol.Interactions() {
		if seen[in.Name] {
			t.Errorf("%s listed twice", in.Name)
		}
		seen[in.Name] = true
		want, ok := expected[in.Name]
		if !ok {
			t.Errorf("%s is not in the expected table", in.Name)
			continue
		}
		target := in.Target.String()
		switch {
		case in.Public:
			target = "public"
		case in.PerEntry:
			target = "entries"
		}
		if target != want[0] || in.Others.String() != want[1] {
			t.Errorf("%s needs %q on its type and %q on others; decided %q and %q", in.Name, target, in.Others, want[0], want[1])
		}
		if in.Public && (in.Target != 0 || in.Others != 0) {
			t.Errorf("%s is public but needs permissions", in.Name)
		}
		if (in.Others != 0) != (in.OthersOf != auth.OthersNone) {
			t.Errorf("%s: Others and OthersOf disagree", in.Name)
		}
	}
	for name := range expected {
		if !seen[name] {
			t.Errorf("%s is missing from the table", name)
		}
	}
}

// TestEveryOperationInTable: every operation the REST layer routes and every operation an adapter
// contributes has a row, so a new operation cannot go unauthorized by omission.
func TestEveryOperationInTable(t *testing.T) {
	pol := auth.NewPolicy(served)
	var names []string
	for _, in := range pol.Interactions() {
		names = append(names, in.Name)
	}
	has := func(op string) bool {
		for _, n := range names {
			if n == op || strings.HasPrefix(n, op+"-") {
				return true
			}
		}
		return false
	}
	found := 0
	check := func(glob string, re *regexp.Regexp) {
		files, err := filepath.Glob(glob)
		if err != nil || len(files) == 0 {
			t.Fatalf("%s: %v (no files)", glob, err)
		}
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			src, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range re.FindAllStringSubmatch(string(src), -1) {
				found++
				if op := "$" + m[1]; !has(op) {
					t.Errorf("%s: operation %s has no row in the authorization table", f, op)
				}
			}
		}
	}
	check("../server/rest/server.go", regexp.MustCompile(`"/(?::type/(?::id/)?(?:_history/:vid/)?)?\$([a-z][a-z-]*)"`))
	check("../adapters/*/operation.go", regexp.MustCompile(`rest\.Operation\{Name: "([a-z]+)"`))
	if found < 8 {
		t.Errorf("found only %d operation routes; has the routing code moved?", found)
	}
}

// exactScopes are user/ (or patient/, system/) scopes granting exactly what in needs for req.
func exactScopes(ctx scope.Context, in auth.Interaction, req auth.Request) []string {
	var s []string
	if in.Target != 0 {
		s = append(s, scope.Name(ctx, req.Type, in.Target))
	}
	for _, t := range otherTypes(in, req) {
		s = append(s, scope.Name(ctx, t, in.Others))
	}
	return s
}

func otherTypes(in auth.Interaction, req auth.Request) []string {
	var types []string
	switch in.OthersOf {
	case auth.OthersRequested:
		types = req.Types
	case auth.OthersServed:
		types = served
	case auth.OthersListed:
		types = in.Listed
	}
	var out []string
	for _, t := range types {
		if in.Target == 0 || t != req.Type {
			out = append(out, t)
		}
	}
	return out
}

func principal(patient string, scopes ...string) *auth.Principal {
	return &auth.Principal{Subject: "u", Patient: patient, Scopes: scope.ParseList(scopes)}
}

func want403(t *testing.T, err error, scopeName string) {
	t.Helper()
	e, ok := auth.AsError(err)
	if !ok || e.Status != http.StatusForbidden || e.Code != auth.CodeInsufficientScope {
		t.Fatalf("got %v, want 403 insufficient_scope", err)
	}
	if scopeName != "" && e.Scope != scopeName {
		t.Fatalf("403 names scope %q, want %q (%v)", e.Scope, scopeName, err)
	}
}

// TestAuthorizeEveryInteraction: for every row, exactly the scopes it names allow it (unrestricted for
// user/ and system/, confined for patient/ as its rule says), each missing letter is a 403 naming it,
// and no token is a 401.
func TestAuthorizeEveryInteraction(t *testing.T) {
	pol := auth.NewPolicy(served)
	for _, in := range pol.Interactions() {
		t.Run(in.Name, func(t *testing.T) {
			req := auth.Request{Interaction: in.Name, ID: "p1"}
			switch {
			case in.Name == "$everything" || in.Name == "$summary" || in.Name == "$draft-message":
				req.Type = "Patient"
			case in.Target != 0 || strings.Contains(in.Request, "[type]"):
				req.Type = "CarePlan"
			}
			if in.OthersOf == auth.OthersRequested {
				req.Types = []string{"Appointment", "Coverage"}
			}
			if in.Public {
				dec, err := pol.Authorize(nil, req)
				if err != nil || !dec.Public {
					t.Fatalf("public interaction without a token: %+v, %v", dec, err)
				}
				return
			}
			_, err := pol.Authorize(nil, req)
			if e, ok := auth.AsError(err); !ok || e.Status != http.StatusUnauthorized || e.Code != "" {
				t.Fatalf("no token: %v, want 401", err)
			}
			if in.PerEntry {
				dec, err := pol.Authorize(principal(""), req)
				if err != nil || !dec.PerEntry {
					t.Fatalf("bundle: %+v, %v", dec, err)
				}
				return
			}

			// Exactly the needed user/ scopes: allowed, unrestricted.
			exact := exactScopes(scope.User, in, req)
			dec, err := pol.Authorize(principal("", exact...), req)
			if err != nil {
				t.Fatalf("scopes %q: %v", exact, err)
			}
			if dec.Patient != "" || (in.Target != 0 && !dec.Target.Unrestricted()) || len(dec.Omit) != 0 {
				t.Fatalf("scopes %q: %+v", exact, dec)
			}
			for _, typ := range otherTypes(in, req) {
				if a, ok := dec.Others[typ]; !ok || !a.Unrestricted() {
					t.Fatalf("scopes %q: access to %s %+v", exact, typ, dec.Others)
				}
			}
			// The same with system/ scopes; v1 equivalents where they exist.
			if _, err := pol.Authorize(principal("", exactScopes(scope.System, in, req)...), req); err != nil {
				t.Fatalf("system/ scopes: %v", err)
			}
			if _, err := pol.Authorize(principal("", "user/*.*"), req); err != nil {
				t.Fatalf("user/*.*: %v", err)
			}

			// Each missing letter on the target is a 403 naming that letter.
			in.Target.Each(func(letter scope.Permission) {
				rest := in.Target &^ letter
				scopes := slices.DeleteFunc(slices.Clone(exact), func(s string) bool { return s == scope.Name(scope.User, req.Type, in.Target) })
				if rest != 0 {
					scopes = append(scopes, scope.Name(scope.User, req.Type, rest))
				}
				_, err := pol.Authorize(principal("", scopes...), req)
				want403(t, err, scope.Name(scope.User, req.Type, letter))
				// and in system/ context for a backend client (known as one by its system/ scopes)
				sys := strings.Join(append(scopes, "system/Nothing.r"), " ")
				sys = strings.ReplaceAll(sys, "user/", "system/")
				_, err = pol.Authorize(principal("", strings.Fields(sys)...), req)
				want403(t, err, scope.Name(scope.System, req.Type, letter))
			})
			// A missing other type: left out where the interaction allows it, else a 403.
			if others := otherTypes(in, req); len(others) > 0 {
				gone := others[0]
				scopes := slices.DeleteFunc(slices.Clone(exact), func(s string) bool { return s == scope.Name(scope.User, gone, in.Others) })
				dec, err := pol.Authorize(principal("", scopes...), req)
				if in.Omit {
					if err != nil || !slices.Equal(dec.Omit, []string{gone}) {
						t.Fatalf("without %s: %+v, %v; want it omitted", gone, dec, err)
					}
					named := req
					named.Named = true
					_, err := pol.Authorize(principal("", scopes...), named)
					want403(t, err, scope.Name(scope.User, gone, in.Others))
				} else {
					want403(t, err, scope.Name(scope.User, gone, in.Others))
				}
			}

			// patient/ scopes: confined by the rule, or refused.
			pscopes := exactScopes(scope.Patient, in, req)
			dec, err = pol.Authorize(principal("p1", pscopes...), req)
			switch in.Patient {
			case auth.PatientRefused:
				want403(t, err, "")
				if e, _ := auth.AsError(err); !strings.HasPrefix(e.Scope, "user/") {
					t.Errorf("refusal names %q, want a user/ scope", e.Scope)
				}
				return
			case auth.PatientNone:
				if err != nil || dec.Patient != "" {
					t.Fatalf("patient/ scopes: %+v, %v", dec, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("patient/ scopes %q: %v", pscopes, err)
			}
			if dec.Patient != "p1" || dec.Rule != in.Patient {
				t.Fatalf("patient/ scopes: confined to %q by %q, want p1 by %q", dec.Patient, dec.Rule, in.Patient)
			}
			if in.Target != 0 && !dec.Target.Confined {
				t.Errorf("target access not confined: %+v", dec.Target)
			}
			// Without a patient claim patient/ scopes grant nothing.
			if _, err := pol.Authorize(principal("", pscopes...), req); err == nil {
				t.Error("patient/ scopes without a patient claim were accepted")
			}
			if in.Patient == auth.PatientOwn {
				other := req
				other.ID = "p2"
				_, err := pol.Authorize(principal("p1", pscopes...), other)
				want403(t, err, "")
				// user/ scopes are not limited to one patient
				if _, err := pol.Authorize(principal("p1", exact...), other); err != nil {
					t.Errorf("user/ scopes for another patient: %v", err)
				}
			}
			// Missing letters are named in the patient/ context for a patient-launched token.
			if in.Target != 0 {
				_, err := pol.Authorize(principal("p1", "patient/Nothing.cruds"), req)
				want403(t, err, scope.Name(scope.Patient, req.Type, in.Target))
			}
		})
	}
}

// TestAuthorizeFailsClosed: an unknown interaction, or one that needs permissions on the types of the
// request when the caller gives none, is refused.
func TestAuthorizeFailsClosed(t *testing.T) {
	pol := auth.NewPolicy(served)
	_, err := pol.Authorize(principal("", "user/*.cruds"), auth.Request{Interaction: "frobnicate"})
	want403(t, err, "")
	for _, name := range []string{"search-system", "search-include", "search-revinclude", "search-chain"} {
		_, err := pol.Authorize(principal("", "user/*.cruds"), auth.Request{Interaction: name})
		want403(t, err, "")
	}
}

// TestAuthorizeFilteredScopes: a granular scope's query reaches the decision, so the caller applies it.
func TestAuthorizeFilteredScopes(t *testing.T) {
	pol := auth.NewPolicy(served)
	dec, err := pol.Authorize(principal("p1", "patient/Appointment.rs?status=booked"), auth.Request{Interaction: "search-type", Type: "Appointment"})
	if err != nil {
		t.Fatal(err)
	}
	if dec.Patient != "p1" || len(dec.Target.Filters) != 1 || dec.Target.Filters[0][0].Get("status") != "booked" || dec.Target.Unrestricted() {
		t.Fatalf("%+v", dec)
	}
	_, err = pol.Authorize(principal("p1", "patient/Appointment.rs?status=booked"), auth.Request{Interaction: "delete", Type: "Appointment"})
	want403(t, err, "patient/Appointment.d")
}

// TestSecurityDocMatchesTable: docs/SECURITY.md shows the Go table, byte for byte between its markers.
// CAREFLOW_UPDATE_DOCS=1 rewrites the section.
func TestSecurityDocMatchesTable(t *testing.T) {
	const path = "../docs/SECURITY.md"
	const begin, end = "<!-- interaction-table:begin (generated from auth.Policy.Markdown; go test ./auth updates it with CAREFLOW_UPDATE_DOCS=1) -->\n", "<!-- interaction-table:end -->"
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(raw)
	i, j := strings.Index(doc, begin), strings.Index(doc, end)
	if i < 0 || j < i {
		t.Fatalf("%s has no interaction-table markers", path)
	}
	table := auth.NewPolicy(served).Markdown()
	if got := doc[i+len(begin) : j]; got != table {
		if os.Getenv("CAREFLOW_UPDATE_DOCS") == "1" {
			if err := os.WriteFile(path, []byte(doc[:i+len(begin)]+table+doc[j:]), 0o644); err != nil {
				t.Fatal(err)
			}
			return
		}
		t.Fatalf("%s's interaction table differs from auth's; run CAREFLOW_UPDATE_DOCS=1 go test -run TestSecurityDocMatchesTable ./auth\n--- doc\n%s\n--- table\n%s", path, got, table)
	}
}

func TestPrincipalAccessContext(t *testing.T) {
	p := principal("p1", "patient/*.rs", "user/Coverage.r")
	if a, pat := p.Access(scope.Search, "CarePlan"); !a.Allowed() || !a.Confined || pat != "p1" {
		t.Errorf("patient/ search: %+v, %q", a, pat)
	}
	if a, pat := p.Access(scope.Read, "Coverage"); !a.Unrestricted() || pat != "" {
		t.Errorf("user/ read: %+v, %q", a, pat)
	}
	if a, pat := p.Access(scope.Create, "CarePlan"); a.Allowed() || a.Missing != scope.Create || pat != "" {
		t.Errorf("create: %+v, %q", a, pat)
	}
}
