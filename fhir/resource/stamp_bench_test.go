package resource

import (
	"os"
	"testing"
	"time"
)

// BenchmarkStamp stamps id and meta on an official example as a client sends it (indented JSON, with meta).
func BenchmarkStamp(b *testing.B) {
	data, err := os.ReadFile("../../testdata/examples/r4/Patient-example.json")
	if err != nil {
		b.Fatal(err)
	}
	lu := time.Date(2026, 12, 3, 8, 0, 0, 0, time.UTC)
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := Stamp(data, "example", "2", lu); err != nil {
			b.Fatal(err)
		}
	}
}
