package validate

import (
	"bytes"
	"encoding/json"
	"os"
	"testing"
)

// BenchmarkDecode compares the validator's single-pass decoder with encoding/json (UseNumber), which it
// replaces.
func BenchmarkDecode(b *testing.B) {
	data, err := os.ReadFile("../../testdata/examples/r4/Patient-example.json")
	if err != nil {
		b.Fatal(err)
	}
	b.Run("decoder", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		b.ReportAllocs()
		for b.Loop() {
			col := &collector{root: "Patient"}
			if _, err := decode(data, col); err != nil || len(col.own) > 0 {
				b.Fatal(err, col.own)
			}
		}
	})
	b.Run("encoding/json", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		b.ReportAllocs()
		for b.Loop() {
			dec := json.NewDecoder(bytes.NewReader(data))
			dec.UseNumber()
			var m map[string]any
			if err := dec.Decode(&m); err != nil {
				b.Fatal(err)
			}
		}
	})
}
