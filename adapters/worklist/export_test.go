package worklist

// DerivedTypes is derivedTypes, for the tests.
var DerivedTypes = derivedTypes

// WholeBuilds reports how many whole builds b made from scratch and how many it brought up to date from
// the change feed (0, 0 without a change feed).
func WholeBuilds(b *Builder) (scratch, updated int) {
	if b.day == nil {
		return 0, 0
	}
	b.day.slot <- struct{}{}
	defer func() { <-b.day.slot }()
	return b.day.wholeBuilds, b.day.updates
}
