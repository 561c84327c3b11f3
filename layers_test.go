package careflow_test

import (
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/careflow/careflow/"

// layers says, per package prefix (the longest matching prefix wins), which of the module's packages it
// may import; every layer may import itself. The layers read top-down (docs/ARCHITECTURE.md, "Package
// map"): cmd → server/rest (HTTP) → server/interaction → storage decorators → stores → fhir (pure
// libraries); the workflows (adapters) sit beside the interaction layer and reach data through the store.
var layers = map[string][]string{
	"fhir/":     {"fhir/"},
	"auth":      {"auth", "fhir/"},
	"storage":   {"storage", "fhir/"},
	"adapters/": {"adapters/", "storage", "fhir/"},
	// The workflows' test fixture stores resources through the one write pipeline (interaction.Pipeline).
	"adapters/internal/adaptertest": {"adapters/", "storage", "fhir/", "server/interaction"},
	"server/interaction":            {"server/interaction", "auth", "storage", "fhir/"},
	"server/audit":                  {"server/audit", "storage", "fhir/"},
	"server/rest":                   {"server/rest", "server/interaction", "server/audit", "auth", "storage", "fhir/"},
	"cmd/":                          {""}, // cmd wires everything
}

// thirdParty restricts where some outside modules may be imported: gin only by the HTTP layer and cmd.
var thirdParty = map[string][]string{
	"github.com/gin-gonic/gin": {"server/rest", "cmd/"},
}

// TestLayers fails on an import that runs back up the layers (a forbidden import), in non-test files.
func TestLayers(t *testing.T) {
	fset := token.NewFileSet()
	checked := 0
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "testdata" || d.Name() == "node_modules" || strings.HasPrefix(d.Name(), ".")) && path != "." {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		pkg := filepath.ToSlash(filepath.Dir(path))
		f, err := parser.ParseFile(fset, path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		checked++
		for _, spec := range f.Imports {
			imp, _ := strconv.Unquote(spec.Path.Value)
			if own, ok := strings.CutPrefix(imp, module); ok {
				if !allowed(layers, pkg, own) {
					t.Errorf("%s imports %s: the layers forbid it (layers_test.go)", path, imp)
				}
				continue
			}
			for mod, who := range thirdParty {
				if (imp == mod || strings.HasPrefix(imp, mod+"/")) && !matchesAny(who, pkg) {
					t.Errorf("%s imports %s, which only %v may import", path, imp, who)
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked < 100 {
		t.Fatalf("checked %d files: the walk did not find the module's sources", checked)
	}
}

// TestLayersCatchAnArrowBackUp checks the rule table itself on imports it must refuse.
func TestLayersCatchAnArrowBackUp(t *testing.T) {
	for _, c := range []struct {
		pkg, imp string
		ok       bool
	}{
		{"storage/sqlite", "server/interaction", false},
		{"storage/refint", "server/rest", false},
		{"fhir/search", "storage", false},
		{"server/interaction", "server/rest", false},
		{"adapters/worklist", "server/rest", false},
		{"adapters/worklist", "server/interaction", false},
		{"server/rest", "server/interaction", true},
		{"server/interaction", "storage", true},
		{"storage/sqlite", "fhir/search", true},
		{"cmd/careflow", "server/rest", true},
	} {
		if got := allowed(layers, c.pkg, c.imp); got != c.ok {
			t.Errorf("%s importing %s: allowed=%v, want %v", c.pkg, c.imp, got, c.ok)
		}
	}
	if matchesAny(thirdParty["github.com/gin-gonic/gin"], "server/interaction") {
		t.Error("the interaction layer may import gin")
	}
}

// allowed reports whether package pkg (a path in the module) may import the module's package imp.
func allowed(rules map[string][]string, pkg, imp string) bool {
	best, may := "", []string(nil)
	for prefix, list := range rules {
		if hasPathPrefix(pkg, prefix) && len(prefix) > len(best) {
			best, may = prefix, list
		}
	}
	if best == "" {
		return false // a package no layer names: add it to the table
	}
	return matchesAny(may, imp)
}

func matchesAny(prefixes []string, p string) bool {
	for _, prefix := range prefixes {
		if hasPathPrefix(p, prefix) {
			return true
		}
	}
	return false
}

// hasPathPrefix: "fhir/" matches fhir/search; "storage" matches storage and storage/sqlite, not storagex;
// "" matches everything.
func hasPathPrefix(p, prefix string) bool {
	if prefix == "" || strings.HasSuffix(prefix, "/") {
		return strings.HasPrefix(p, prefix)
	}
	return p == prefix || strings.HasPrefix(p, prefix+"/")
}
