package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/careflow/careflow/fhir/synth"
)

// generate writes synthetic coordinated-care patients, one FHIR R4 transaction Bundle each:
//
//	careflow generate --seed 1 --patients 20 --today 2026-11-25 --history --out testdata/bundles
//	careflow generate --patients 1000 | careflow load --base http://127.0.0.1:8080/fhir -
func generate(args []string) error { return runGenerate(args, os.Stdout, os.Stderr) }

func runGenerate(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("generate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, `usage: careflow generate [flags]

Writes synthetic coordinated-care patients, each as one FHIR R4 transaction Bundle (see fhir/synth and
testdata/README.md). The same --seed, --patients and --today always give byte-identical output.

With --out DIR: DIR/patient-001.json … (indented JSON) and DIR/manifest.json, which lists per patient the
coordination situations it exercises. Without --out (or --out -): one compact Bundle per line (NDJSON) on
standard output, ready for "careflow load -".

flags:
`)
		fs.PrintDefaults()
	}
	seed := fs.Uint64("seed", 1, "data set seed")
	patients := fs.Int("patients", 20, "number of patients (bundles)")
	todayFlag := fs.String("today", "", "reference date YYYY-MM-DD all dates are relative to (default: the current date)")
	out := fs.String("out", "", "directory for patient-NNN.json and manifest.json; empty or - for NDJSON on stdout")
	manifest := fs.String("manifest", "", "with NDJSON output, also write the manifest to this file")
	history := fs.Bool("history", false, "add each patient's clinical history: care team, conditions, encounters and a recent hospital stay, vital signs and labs, procedures, immunizations, prescriptions, referrals, outreach, family history (16 more resource types)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("generate: unexpected arguments %q", fs.Args())
	}
	today, err := parseToday(*todayFlag)
	if err != nil {
		return err
	}
	if *patients < 0 {
		return fmt.Errorf("generate: --patients must not be negative")
	}
	o := synth.Options{Seed: *seed, Patients: *patients, Today: today, History: *history}
	if *out != "" && *out != "-" {
		bundles, err := synth.Generate(o)
		if err != nil {
			return err
		}
		if err := synth.WriteDir(*out, o, bundles); err != nil {
			return err
		}
		resources := 0
		for _, b := range bundles {
			resources += b.Entries
		}
		fmt.Fprintf(stderr, "wrote %d bundles (%d resources, seed %d, today %s) and manifest.json to %s\n",
			len(bundles), resources, o.Seed, today.Format("2006-01-02"), *out)
		return nil
	}
	// NDJSON: one patient at a time, so that any number of patients streams in constant memory (the
	// manifest, when asked for, keeps only the situations).
	w := bufio.NewWriterSize(stdout, 1<<16)
	var kept []*synth.Bundle
	for i := range o.Patients {
		b, err := synth.Patient(o, i)
		if err != nil {
			return err
		}
		var line bytes.Buffer
		if err := json.Compact(&line, b.JSON); err != nil {
			return err
		}
		line.WriteByte('\n')
		if _, err := w.Write(line.Bytes()); err != nil {
			return err
		}
		if *manifest != "" {
			b.JSON = nil
			kept = append(kept, b)
		}
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if *manifest != "" {
		return os.WriteFile(*manifest, synth.Manifest(o, kept), 0o644)
	}
	return nil
}

// parseToday reads a YYYY-MM-DD reference date; empty means the current local date.
func parseToday(s string) (time.Time, error) {
	if s == "" {
		y, m, d := time.Now().Date()
		return time.Date(y, m, d, 0, 0, 0, 0, time.UTC), nil
	}
	t, err := time.Parse("2006-01-02", s)
	if err != nil {
		return time.Time{}, fmt.Errorf("--today %q: want a date such as 2026-11-25", s)
	}
	return t, nil
}
