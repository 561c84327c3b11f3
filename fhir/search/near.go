package search

import (
	"math"
	"strconv"

	"github.com/careflow/careflow/fhir/fhirpath"
	"github.com/careflow/careflow/fhir/outcome"
	"github.com/careflow/careflow/fhir/ucum"
)

// Location near (location.html#positional, the special parameter near): near=latitude|longitude[|distance
// [|units]] finds the Locations whose position (WGS84 degrees) lies within distance of the point along
// the earth's surface, taken as a sphere of the mean radius EarthRadius (the spec lets servers choose
// their accuracy; the sphere errs by at most 0.5 % against the ellipsoid). Units are a UCUM length code
// (km, m, [mi_i]…), km when omitted (as the spec says); without a distance, NearDefaultMeters.
//
// Index: a position is three NumKey rows of the parameter's numeric field: "g" with lo = latitude and
// hi = longitude, and its unit vector (x, y, z) on the sphere as "v" (lo = x, hi = y) and "w" (z). A
// search selects the rows of "g" in a latitude/longitude box that holds the whole circle (index-backed:
// a range on lo within one unit key), then keeps those whose unit vector's dot product with the point's
// is at least cos(distance / radius) — the great-circle test without trigonometry, which the embedded
// store evaluates in SQL and the MongoDB store on each candidate, with the same arithmetic (NearCond.Matches).

// EarthRadius is the mean radius of the earth in metres (IUGG: (2a + b) / 3 of WGS84).
const EarthRadius = 6371008.8

// NearDefaultMeters is the distance of a near search that gives none: 10 km.
const NearDefaultMeters = 10000

// Unit keys of a position's rows.
const (
	nearLatLon = "g"
	nearXY     = "v"
	nearZ      = "w"
)

// NearUnits are the unit keys of a position's rows: latitude/longitude, x/y and z.
var NearUnits = [3]string{nearLatLon, nearXY, nearZ}

// indexNear extracts Location.position: latitude and longitude and the unit vector.
func indexNear(p *Param, nodes []fhirpath.Node, out map[string]any) {
	for _, n := range nodes {
		m, ok := n.Value.(map[string]any)
		if !ok {
			continue
		}
		lat, okLat := coordinate(m["latitude"], 90)
		lon, okLon := coordinate(m["longitude"], 180)
		if !okLat || !okLon {
			continue
		}
		x, y, z := unitVector(lat, lon)
		out[p.Field+SuffixNumeric] = []NumKey{{U: nearLatLon, Lo: lat, Hi: lon}, {U: nearXY, Lo: x, Hi: y}, {U: nearZ, Lo: z, Hi: z}}
		return // Location.position is 0..1
	}
}

func coordinate(v any, limit float64) (float64, bool) {
	f, _, ok := decimal(v)
	return f, ok && f >= -limit && f <= limit
}

func unitVector(lat, lon float64) (x, y, z float64) {
	phi, lambda := lat*math.Pi/180, lon*math.Pi/180
	return math.Cos(phi) * math.Cos(lambda), math.Cos(phi) * math.Sin(lambda), math.Sin(phi)
}

// NearCond is what one near search value matches: a position whose latitude is in [LatLo, LatHi] and
// longitude in one of Lon (the box, a superset of the circle for the index), and whose unit vector
// passes Matches.
type NearCond struct {
	LatLo, LatHi float64
	Lon          [][2]float64
	X, Y, Z      float64 // the point's unit vector
	MinDot       float64 // cos(distance / EarthRadius)
}

// Matches is the exact test on a stored unit vector; both stores compute it in this order, in float64,
// so that they agree on every position.
func (c NearCond) Matches(x, y, z float64) bool {
	return float64(x*c.X)+float64(y*c.Y)+float64(z*c.Z) >= c.MinDot
}

// boxMargin widens the box beyond the circle (degrees, ~1 cm), so that rounding never lets the box
// exclude a position the exact test keeps.
const boxMargin = 1e-7

// NearConds returns the conditions of a near criterion's values (OR-ed).
func NearConds(c Criterion) []NearCond {
	var out []NearCond
	for _, v := range c.Values {
		theta := v.Meters / EarthRadius
		n := NearCond{LatLo: -90, LatHi: 90, Lon: [][2]float64{{-180, 180}}, MinDot: -2}
		n.X, n.Y, n.Z = unitVector(v.Lat, v.Lon)
		if theta < math.Pi {
			n.MinDot = math.Cos(theta)
			deg := theta*180/math.Pi + boxMargin
			n.LatLo, n.LatHi = max(v.Lat-deg, -90), min(v.Lat+deg, 90)
			if s := math.Sin(theta) / math.Cos(v.Lat*math.Pi/180); n.LatLo > -90 && n.LatHi < 90 && s < 1 {
				d := math.Asin(s)*180/math.Pi + boxMargin
				lo, hi := v.Lon-d, v.Lon+d
				switch {
				case lo < -180:
					n.Lon = [][2]float64{{-180, hi}, {lo + 360, 180}}
				case hi > 180:
					n.Lon = [][2]float64{{-180, hi - 360}, {lo, 180}}
				default:
					n.Lon = [][2]float64{{lo, hi}}
				}
			}
		}
		out = append(out, n)
	}
	return out
}

// nearValue parses latitude|longitude[|distance[|units]].
func nearValue(v Value, seg string) (Value, *failure) {
	parts := splitUnescaped(seg, '|')
	bad := func(why string) (Value, *failure) {
		return v, fail(outcome.CodeInvalid, "invalid near %s: %s; expected latitude|longitude[|distance[|units]] (degrees WGS84, a distance, a UCUM length unit, km when omitted)", clip(v.Raw), why)
	}
	if len(parts) < 2 || len(parts) > 4 {
		return bad("wrong number of parts")
	}
	num := func(s string) (float64, bool) {
		s = unescape(s)
		if !numberOK(s) {
			return 0, false
		}
		f, err := strconv.ParseFloat(s, 64)
		return f, err == nil
	}
	var ok bool
	if v.Lat, ok = num(parts[0]); !ok || v.Lat < -90 || v.Lat > 90 {
		return bad("the latitude must be a number from -90 to 90")
	}
	if v.Lon, ok = num(parts[1]); !ok || v.Lon < -180 || v.Lon > 180 {
		return bad("the longitude must be a number from -180 to 180")
	}
	v.Meters = NearDefaultMeters
	if len(parts) < 3 || parts[2] == "" {
		if len(parts) == 4 && parts[3] != "" {
			return bad("units without a distance")
		}
		return v, nil
	}
	d, ok := num(parts[2])
	if !ok || d < 0 {
		return bad("the distance must be a non-negative number")
	}
	unit := "km"
	if len(parts) == 4 && parts[3] != "" {
		unit = unescape(parts[3])
	}
	canon, ok := ucum.Canonical(unit)
	if !ok || canon.Dim != (ucum.Dim{1}) {
		return bad("the units must be a UCUM length (km, m, [mi_i]…)")
	}
	v.Meters = d * ratFloat(canon.Mag)
	return v, nil
}
