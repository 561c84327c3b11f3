package scope

import (
	"net/url"
	"reflect"
	"testing"
)

func TestParsePermission(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Permission
		ok   bool
	}{
		{"c", Create, true},
		{"r", Read, true},
		{"rs", Read | Search, true},
		{"cu", Create | Update, true},
		{"cruds", All, true},
		{"cud", Create | Update | Delete, true},
		{"ds", Delete | Search, true},
		// v1 forms, mapped as the spec says
		{"read", Read | Search, true},
		{"write", Create | Update | Delete, true},
		{"*", All, true},
		// invalid: out of order, repeated, unknown, empty
		{"dus", 0, false},
		{"sr", 0, false},
		{"rr", 0, false},
		{"crudsx", 0, false},
		{"x", 0, false},
		{"", 0, false},
		{"Read", 0, false},
		{"rw", 0, false},
	} {
		got, err := ParsePermission(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ParsePermission(%q) = %v, %v; want %v, ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
		if tc.ok && tc.in != "read" && tc.in != "write" && tc.in != "*" && got.String() != tc.in {
			t.Errorf("Permission(%q).String() = %q", tc.in, got.String())
		}
	}
}

func TestParse(t *testing.T) {
	set := Parse("openid fhirUser launch/patient offline_access patient/Observation.rs user/*.cruds system/Patient.read " +
		"patient/*.write patient/Observation.dus user/observation.r patient/Observation user/Obs-x.r " +
		"patient/Observation.rs?category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory " +
		"patient/Observation.rs?code:in=http://vs patient/Observation.rs?patient.birthdate=1990 patient/Observation.rs?_filter=x " +
		"patient/Observation.read?category=x patient/Observation.rs?category  launch online_access profile")
	want := []Resource{
		{Raw: "patient/Observation.rs", Context: Patient, Type: "Observation", Permissions: Read | Search},
		{Raw: "user/*.cruds", Context: User, Type: "*", Permissions: All},
		{Raw: "system/Patient.read", Context: System, Type: "Patient", Permissions: Read | Search},
		{Raw: "patient/*.write", Context: Patient, Type: "*", Permissions: Create | Update | Delete},
		{Raw: "patient/Observation.rs?category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory", Context: Patient,
			Type: "Observation", Permissions: Read | Search,
			Filter: url.Values{"category": {"http://terminology.hl7.org/CodeSystem/observation-category|laboratory"}}},
	}
	if !reflect.DeepEqual(set.Resources, want) {
		t.Errorf("resources:\n got %+v\nwant %+v", set.Resources, want)
	}
	if w := []string{"openid", "fhirUser", "launch/patient", "offline_access", "launch", "online_access", "profile"}; !reflect.DeepEqual(set.Other, w) {
		t.Errorf("other = %q, want %q", set.Other, w)
	}
	wantInvalid := []string{"patient/Observation.dus", "user/observation.r", "patient/Observation", "user/Obs-x.r",
		"patient/Observation.rs?code:in=http://vs", "patient/Observation.rs?patient.birthdate=1990", "patient/Observation.rs?_filter=x",
		"patient/Observation.read?category=x", "patient/Observation.rs?category"}
	if !reflect.DeepEqual(set.Invalid, wantInvalid) {
		t.Errorf("invalid = %q, want %q", set.Invalid, wantInvalid)
	}
}

func TestAccess(t *testing.T) {
	lab := url.Values{"category": {"laboratory"}}
	vital := url.Values{"category": {"vital-signs"}}
	for _, tc := range []struct {
		name    string
		scopes  string
		patient bool
		perm    Permission
		typ     string
		want    Access
	}{
		{"user wildcard", "user/*.rs", false, Read, "Patient", Access{Scopes: []string{"user/*.rs"}}},
		{"user wrong letter", "user/*.rs", false, Update, "Patient", Access{Missing: Update}},
		{"user wrong type", "user/Patient.cruds", false, Read, "Coverage", Access{Missing: Read}},
		{"system v1", "system/Coverage.read", false, Read | Search, "Coverage", Access{Scopes: []string{"system/Coverage.read"}}},
		{"v1 read is not write", "system/Coverage.read", false, Delete, "Coverage", Access{Missing: Delete}},
		{"patient confined", "patient/*.rs", true, Search, "CarePlan", Access{Confined: true, Scopes: []string{"patient/*.rs"}}},
		{"patient without patient claim grants nothing", "patient/*.rs", false, Search, "CarePlan", Access{Missing: Search}},
		{"user beats patient", "patient/*.cruds user/CarePlan.s", true, Search, "CarePlan", Access{Scopes: []string{"user/CarePlan.s"}}},
		{"mixed letters: one confined makes all confined", "patient/*.c user/CarePlan.s", true, Create | Search, "CarePlan",
			Access{Confined: true, Scopes: []string{"patient/*.c", "user/CarePlan.s"}}},
		{"partial grant names what is missing", "user/CarePlan.c", false, Create | Search, "CarePlan", Access{Missing: Search, Scopes: []string{"user/CarePlan.c"}}},
		{"filtered", "user/Observation.rs?category=laboratory", false, Read, "Observation",
			Access{Filters: [][]url.Values{{lab}}, Scopes: []string{"user/Observation.rs?category=laboratory"}}},
		{"filters are alternatives", "user/Observation.r?category=laboratory patient/Observation.r?category=vital-signs", true, Read, "Observation",
			Access{Confined: true, Filters: [][]url.Values{{lab, vital}},
				Scopes: []string{"user/Observation.r?category=laboratory", "patient/Observation.r?category=vital-signs"}}},
		{"filter never grants a letter it lacks", "user/Observation.r?category=laboratory", false, Search, "Observation", Access{Missing: Search}},
		{"unfiltered beats filtered", "user/Observation.rs?category=laboratory user/Observation.r", false, Read, "Observation",
			Access{Scopes: []string{"user/Observation.r"}}},
		{"invalid scope grants nothing", "user/Observation.dus patient/*.sr", true, Search, "Observation", Access{Missing: Search}},
		{"a wildcard does not cover the audit log", "user/*.cruds", false, Read, "AuditEvent", Access{Missing: Read}},
		{"the audit log needs its own scope", "user/*.cruds user/AuditEvent.rs", false, Read | Search, "AuditEvent", Access{Scopes: []string{"user/AuditEvent.rs"}}},
		{"non-resource scopes grant nothing", "openid fhirUser launch/patient offline_access", true, Read, "Patient", Access{Missing: Read}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Parse(tc.scopes).Access(tc.perm, tc.typ, tc.patient)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got  %+v\nwant %+v", got, tc.want)
			}
			if got.Allowed() != (tc.want.Missing == 0) {
				t.Errorf("Allowed() = %v", got.Allowed())
			}
		})
	}
}

func TestName(t *testing.T) {
	if got := Name(Patient, "Observation", Read|Search); got != "patient/Observation.rs" {
		t.Errorf("Name = %q", got)
	}
}
