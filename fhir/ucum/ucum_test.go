package ucum

import (
	"math/big"
	"testing"
)

func TestCanonical(t *testing.T) {
	cases := []struct {
		unit string
		mag  string // exact, in base units
		dim  Dim
	}{
		{"g", "1", Dim{0, 0, 1}},
		{"mg", "1/1000", Dim{0, 0, 1}},
		{"kg", "1000", Dim{0, 0, 1}},
		{"ug", "1/1000000", Dim{0, 0, 1}},
		{"[lb_av]", "45359237/100000", Dim{0, 0, 1}},
		{"L", "1/1000", Dim{3}},
		{"dL", "1/10000", Dim{3}},
		{"mL", "1/1000000", Dim{3}},
		{"mg/dL", "10", Dim{-3, 0, 1}},
		{"g/L", "1000", Dim{-3, 0, 1}}, // 100 mg/dL = 1 g/L
		{"mmol/L", "602213670000000000000000", Dim{-3}},
		{"10*3/uL", "1000000000000", Dim{-3}},
		{"10*9/L", "1000000000000", Dim{-3}},
		{"/min", "1/60", Dim{0, -1}},
		{"{beats}/min", "1/60", Dim{0, -1}},
		{"kg/m2", "1000", Dim{-2, 0, 1}},
		{"mm[Hg]", "133322", Dim{-1, -2, 1}},
		{"[in_i]", "127/5000", Dim{1}},
		{"cm", "1/100", Dim{1}},
		{"%", "1/100", Dim{}},
		{"m.s-2", "1", Dim{1, -2}},
		{"wk", "604800", Dim{0, 1}},
		{"a", "31557600", Dim{0, 1}},
		{"mo", "2629800", Dim{0, 1}},
		{"1", "1", Dim{}},
	}
	for _, c := range cases {
		v, ok := Canonical(c.unit)
		if !ok {
			t.Errorf("Canonical(%q): not ok", c.unit)
			continue
		}
		want, _ := new(big.Rat).SetString(c.mag)
		if v.Mag.Cmp(want) != 0 || v.Dim != c.dim {
			t.Errorf("Canonical(%q) = %s %v, want %s %v", c.unit, v.Mag.RatString(), v.Dim, c.mag, c.dim)
		}
	}
	// Special (non-ratio) and arbitrary units, and what is not UCUM, have no canonical form.
	for _, u := range []string{"Cel", "[degF]", "[pH]", "[iU]", "[IU]/L", "mg/", "", "foo", "kL/(", "mg{x", "Mmol.Cel"} {
		if v, ok := Canonical(u); ok {
			t.Errorf("Canonical(%q) = %v, want not ok", u, v)
		}
	}
}
