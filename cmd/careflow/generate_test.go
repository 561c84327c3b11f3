package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/careflow/careflow/fhir/synth"
)

func TestGenerateDirectory(t *testing.T) {
	dir := t.TempDir()
	var stderr bytes.Buffer
	if err := runGenerate([]string{"--seed", "5", "--patients", "12", "--today", "2026-11-25", "--out", dir}, &stderr, &stderr); err != nil {
		t.Fatal(err, stderr.String())
	}
	o := synth.Options{Seed: 5, Patients: 12, Today: time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)}
	bundles, err := synth.Generate(o)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range bundles {
		got, err := os.ReadFile(filepath.Join(dir, b.File))
		if err != nil || !bytes.Equal(got, b.JSON) {
			t.Fatalf("%s differs from the generator (%v)", b.File, err)
		}
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "manifest.json")); !bytes.Equal(got, synth.Manifest(o, bundles)) {
		t.Error("manifest.json differs")
	}
	if !strings.Contains(stderr.String(), "wrote 12 bundles") {
		t.Errorf("stderr %q", stderr.String())
	}
	// A smaller set in the same directory removes the bundles it no longer has, and nothing else.
	other := filepath.Join(dir, "notes.txt")
	_ = os.WriteFile(other, []byte("keep me"), 0o644)
	if err := runGenerate([]string{"--seed", "5", "--patients", "3", "--today", "2026-11-25", "--out", dir}, &stderr, &stderr); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*"))
	if len(files) != 5 { // 3 bundles, manifest.json, notes.txt
		t.Errorf("files after regenerating 3 patients: %v", files)
	}
}

func TestGenerateNDJSON(t *testing.T) {
	var stdout, stderr bytes.Buffer
	manifest := filepath.Join(t.TempDir(), "m.json")
	if err := runGenerate([]string{"--seed", "9", "--patients", "7", "--today", "2027-01-15", "--manifest", manifest}, &stdout, &stderr); err != nil {
		t.Fatal(err, stderr.String())
	}
	o := synth.Options{Seed: 9, Patients: 7, Today: time.Date(2027, 1, 15, 0, 0, 0, 0, time.UTC)}
	sc := bufio.NewScanner(&stdout)
	sc.Buffer(nil, 1<<24)
	n := 0
	for sc.Scan() {
		b, err := synth.Patient(o, n)
		if err != nil {
			t.Fatal(err)
		}
		var want bytes.Buffer
		_ = json.Compact(&want, b.JSON)
		if !bytes.Equal(sc.Bytes(), want.Bytes()) {
			t.Fatalf("line %d is not bundle %d compacted", n+1, n)
		}
		n++
	}
	if n != 7 {
		t.Fatalf("%d lines, want 7", n)
	}
	var m struct {
		Patients int
		Bundles  []struct{ File string }
	}
	data, _ := os.ReadFile(manifest)
	if err := json.Unmarshal(data, &m); err != nil || m.Patients != 7 || len(m.Bundles) != 7 {
		t.Errorf("manifest: %v %s", err, data)
	}
}

func TestGenerateFlags(t *testing.T) {
	var out bytes.Buffer
	for _, args := range [][]string{
		{"--today", "yesterday"},
		{"--today", "2026-02-30"},
		{"--patients", "-1", "--today", "2026-11-25"},
		{"extra"},
		{"--nope"},
	} {
		if err := runGenerate(args, &out, &out); err == nil {
			t.Errorf("%v: accepted", args)
		}
	}
	if err := runGenerate([]string{"-h"}, &out, &out); err != nil {
		t.Errorf("-h: %v", err)
	}
}
