package rest_test

import "testing"

func TestPatientEverything(t *testing.T) {
	c := dataset(t)
	cases := []struct{ query, want string }{
		{"Patient/p1/$everything", "p1,a1,a2,al1"},
		{"Patient/p1/$everything?_count=2", "p1,a1,a2,al1"},
		{"Patient/p1/$everything?_count=1", "p1,a1,a2,al1"},
		{"Patient/p1/$everything?_type=Appointment", "a1,a2"},
		{"Patient/p1/$everything?start=2026-12-02", "p1,a2,al1"},
		{"Patient/p2/$everything?_type=AllergyIntolerance,Patient", "al2,p2"},
	}
	for _, tc := range cases {
		if got := ids(t, c, tc.query); got != tc.want {
			t.Errorf("%s: got %s, want %s", tc.query, got, tc.want)
		}
	}
	expectOutcome(t, c.do("GET", "/Patient/nobody/$everything", ""), 404, "not-found", "")
	expectOutcome(t, c.do("GET", "/Patient/p1/$everything?_type=Observation", ""), 400, "not-supported", "_type")
}

func TestSystemSearch(t *testing.T) {
	c := dataset(t)
	cases := []struct{ query, want string }{
		{"?_type=Patient,Appointment&_id=p1,a3", "p1,a3"},
		{"?_type=AllergyIntolerance&_count=1", "al1,al2"},
		{"?_id=al2,p3", "p3,al2"},
	}
	for _, tc := range cases {
		if got := ids(t, c, tc.query); got != tc.want {
			t.Errorf("%s: got %s, want %s", tc.query, got, tc.want)
		}
	}
	expectOutcome(t, c.do("GET", "?_type=Patient,Appointment&gender=male", ""), 400, "not-supported", "gender")
}
