// Package r4test gives tests the shared FHIR R4 definitions of fhir/r4, loaded once per test binary.
package r4test

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/careflow/careflow/fhir/r4"
	"github.com/careflow/careflow/fhir/validate"
)

// Load returns the definitions of r4.Load; it fails the test when they do not load.
func Load(t testing.TB) *r4.R4 {
	t.Helper()
	d, err := r4.Load()
	if err != nil {
		t.Fatalf("FHIR R4 definitions: %v", err)
	}
	return d
}

// Validator returns the shared validator of the served types; it fails the test when it does not build.
func Validator(t testing.TB) *validate.Validator {
	t.Helper()
	v, err := Load(t).Validator()
	if err != nil {
		t.Fatalf("FHIR R4 validator: %v", err)
	}
	return v
}

// ExampleExceptions are the exceptions to "every official example of every served type is accepted",
// from testdata/examples/exceptions.txt: rejected maps an example's file name (Questionnaire-qs1.json) to
// why careflow rejects it, noExample a served type to why it has no official example.
func ExampleExceptions(t testing.TB) (rejected, noExample map[string]string) {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("r4test: no caller information")
	}
	path := filepath.Join(filepath.Dir(file), "..", "..", "..", "testdata", "examples", "exceptions.txt")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("r4test: %v", err)
	}
	rejected, noExample = map[string]string{}, map[string]string{}
	for _, line := range strings.Split(string(data), "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.SplitN(line, " ", 3)
		if len(fields) != 3 {
			t.Fatalf("r4test: %s: malformed line %q", path, line)
		}
		switch fields[0] {
		case "rejected":
			rejected[fields[1]] = fields[2]
		case "no-example":
			noExample[fields[1]] = fields[2]
		default:
			t.Fatalf("r4test: %s: unknown kind %q", path, fields[0])
		}
	}
	return rejected, noExample
}
