package main

import (
	"slices"
	"strconv"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// indexField is one top-level search-index field of a raw document (Key the field name, Value a sorted
// []string, a string (sort keys) or a time.Time (date ranges)); a slice of them is the index argument of
// storage/mongo.VersionDoc.
type indexField = bson.E

// indexOf derives the search-index fields of a patient the way careflow lays them out (fhir/search): per
// Patient search parameter with values, "s_<code>" holds its keys; string parameters add "_e" (exact
// values), dates are stored as "_lo"/"_hi" instants, and every parameter has a "_sort" key. It is not
// careflow's extraction (the raw phases must not run server code) but yields the same field names and about
// the same number, kinds and sizes of values, so that the raw documents cost the database what careflow's do.
func indexOf(p *fPatient) []indexField {
	var out []indexField
	// str adds a string parameter: normalised values, exact values and a sort key.
	str := func(code string, values []string, sortKey string) {
		if len(values) == 0 {
			return
		}
		norm := make([]string, len(values))
		for i, v := range values {
			norm[i] = strings.ToLower(v)
		}
		out = append(out,
			indexField{Key: "s_" + code, Value: sortedSet(norm)},
			indexField{Key: "s_" + code + "_e", Value: sortedSet(values)},
			indexField{Key: "s_" + code + "_sort", Value: strings.ToLower(sortKey)})
	}
	// keys adds a token, reference or uri parameter: its keys and a sort key.
	keys := func(code string, values []string, sortKey string) {
		if len(values) == 0 {
			return
		}
		out = append(out, indexField{Key: "s_" + code, Value: sortedSet(values)}, indexField{Key: "s_" + code + "_sort", Value: sortKey})
	}
	token := func(system, code string) []string {
		if system == "" {
			return []string{"n:" + code}
		}
		return []string{"c:" + code, "s:" + system + "|" + code}
	}

	var names, families, givens []string
	for _, n := range p.Name {
		if n.Text != "" {
			names = append(names, n.Text)
		}
		if n.Family != "" {
			names, families = append(names, n.Family), append(families, n.Family)
		}
		names, givens = append(names, n.Given...), append(givens, n.Given...)
	}
	str("name", names, p.Name[0].Family)
	str("family", families, p.Name[0].Family)
	str("given", givens, slices.Min(givens))
	str("phonetic", names, p.Name[0].Family)

	var addr, cities, states, zips, countries, uses []string
	for _, a := range p.Address {
		addr = append(addr, a.Line...)
		addr = append(addr, a.City, a.State, a.PostalCode, a.Country)
		cities, states, zips = append(cities, a.City), append(states, a.State), append(zips, a.PostalCode)
		countries, uses = append(countries, a.Country), append(uses, token("", a.Use)...)
	}
	str("address", addr, p.Address[0].Line[0])
	str("address_city", cities, cities[0])
	str("address_state", states, states[0])
	str("address_postalcode", zips, zips[0])
	str("address_country", countries, countries[0])
	keys("address_use", uses, p.Address[0].Use)

	var ids []string
	for _, id := range p.Identifier {
		ids = append(ids, token(id.System, id.Value)...)
		if id.Type != nil {
			c := id.Type.Coding[0]
			ids = append(ids, "t:"+c.System+"|"+c.Code+"|"+id.Value)
		}
	}
	keys("identifier", ids, p.Identifier[0].Value)
	var telecom, phones, emails []string
	for _, t := range p.Telecom {
		k := token(t.System, t.Value)
		telecom = append(telecom, k...)
		switch t.System {
		case "phone":
			phones = append(phones, k...)
		case "email":
			emails = append(emails, k...)
		}
	}
	keys("telecom", telecom, p.Telecom[0].Value)
	keys("phone", phones, p.Telecom[0].Value)
	if len(emails) > 0 {
		keys("email", emails, strings.TrimPrefix(emails[0], "c:"))
	}
	keys("gender", token("", p.Gender), p.Gender)
	keys("active", token("", strconv.FormatBool(p.Active)), strconv.FormatBool(p.Active))
	deceased := p.DeceasedBoolean != nil && *p.DeceasedBoolean
	keys("deceased", token("", strconv.FormatBool(deceased)), strconv.FormatBool(deceased))
	lang := p.Communication[0].Language.Coding[0]
	keys("language", token(lang.System, lang.Code), lang.Code)
	keys("general_practitioner", []string{p.GeneralPractitioner[0].Reference}, p.GeneralPractitioner[0].Reference)
	keys("organization", []string{p.ManagingOrganization.Reference}, p.ManagingOrganization.Reference)
	keys("_profile", p.Meta.Profile, p.Meta.Profile[0])

	if lo, err := time.Parse(time.DateOnly, p.BirthDate); err == nil {
		out = append(out,
			indexField{Key: "s_birthdate_lo", Value: lo},
			indexField{Key: "s_birthdate_hi", Value: lo.AddDate(0, 0, 1)},
			indexField{Key: "s_birthdate_sort", Value: lo.Format("2006-01-02T15:04:05.000Z")})
	}
	return out
}

// sortedSet returns the distinct values of s, sorted (careflow stores index keys so).
func sortedSet(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return slices.Compact(out)
}
