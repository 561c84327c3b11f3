package validate

import (
	"github.com/careflow/careflow/fhir/model"
)

// NewWithRegexp is New with every schema pattern compiled by Go's regexp (no fast matchers): the
// reference the fast matchers are compared against.
func NewWithRegexp(m *model.Model) (*Validator, error) { return newValidator(m, nil) }

// FastPatterns are the patterns answered by a matcher of their own, with it.
func FastPatterns() map[string]func(string) bool { return fastPatterns }
