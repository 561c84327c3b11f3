package definitions

import (
	"slices"
	"testing"
)

// TestResourceTypes: every official type but the ones not stored, each once, the Coordination types first.
func TestResourceTypes(t *testing.T) {
	if len(OfficialResourceTypes) != 146 {
		t.Errorf("%d official R4 resource types, want 146", len(OfficialResourceTypes))
	}
	if want := len(OfficialResourceTypes) - len(NotStored); len(ResourceTypes) != want {
		t.Errorf("%d served types, want %d", len(ResourceTypes), want)
	}
	seen := map[string]bool{}
	for _, rt := range ResourceTypes {
		if seen[rt] || NotStored[rt] || !slices.Contains(OfficialResourceTypes, rt) {
			t.Errorf("%s: duplicate, not stored or not official", rt)
		}
		seen[rt] = true
	}
	if !slices.Equal(ResourceTypes[:len(Coordination)], Coordination) {
		t.Errorf("served types begin %v", ResourceTypes[:len(Coordination)])
	}
}
