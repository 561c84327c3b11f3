package sqlite_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/careflow/careflow/fhir/r4/r4test"
	"github.com/careflow/careflow/storage"
	"github.com/careflow/careflow/storage/sqlite"
	"github.com/careflow/careflow/storage/sqlite/sqlitetest"
)

// benchPatient is a Patient of about 2 KB with the index fields a real one has (~25 values).
func benchPatient(i int) storage.Write {
	family := fmt.Sprintf("family%05d", i)
	body := `{"resourceType":"Patient","identifier":[{"system":"urn:mrn","value":"` + family + `"}],"name":[{"family":"` + family +
		`","given":["Ann","Marie"]}],"gender":"female","birthDate":"1970-01-01","text":{"status":"generated","div":"<div xmlns=\"http://www.w3.org/1999/xhtml\">` +
		strings.Repeat("x", 1700) + `</div>"}}`
	idx := map[string]any{"s_family": []string{family}, "s_name": []string{family, "ann", "marie"}, "s_gender": []string{"c:female", "n:female"},
		"s_identifier": []string{"c:" + family, "s:urn:mrn|" + family}, "s_family_sort": family}
	return storage.Write{Type: "Patient", Body: []byte(body), Index: idx}
}

// BenchmarkCreate: concurrent creates through the store (group commit), synchronous=full as in production.
// cpu-µs/op is the process's CPU time (user + system) per create, which a shared machine's load changes
// far less than ns/op.
func BenchmarkCreate(b *testing.B) {
	s := sqlitetest.OpenWith(b, sqlite.Options{Synchronous: "full"})
	var n atomic.Int64
	b.SetParallelism(4) // 4 × GOMAXPROCS writers
	cpu := startCPU(b)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := s.Create(context.Background(), benchPatient(int(n.Add(1)))); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.StopTimer()
	cpu.report(b)
}

// cpuClock measures the process's CPU time (user + system) from a benchmark's start.
type cpuClock struct{ start time.Duration }

func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func startCPU(b *testing.B) cpuClock { return cpuClock{start: processCPU(b)} }

// report adds cpu-µs/op: the CPU time since the start per b.N.
func (c cpuClock) report(b *testing.B) {
	b.ReportMetric(float64(processCPU(b)-c.start)/float64(time.Microsecond)/float64(b.N), "cpu-µs/op")
}

// readFixture is a store holding 10,000 patients p0…p9999, shared by the runs of BenchmarkRead (the
// benchmark function runs several times with growing b.N). It lives until the process ends.
var readFixture = sync.OnceValues(func() (*sqlite.Store, error) {
	dir, err := os.MkdirTemp("", "careflow-bench")
	if err != nil {
		return nil, err
	}
	s, err := sqlite.Open(context.Background(), sqlite.Options{Path: filepath.Join(dir, "read.db"), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return nil, err
	}
	var ops []storage.TxOp
	for i := 0; i < 10000; i++ {
		w := benchPatient(i)
		w.ID = fmt.Sprintf("p%d", i)
		ops = append(ops, storage.TxOp{Kind: storage.TxCreate, Write: w})
	}
	_, err = s.Transact(context.Background(), ops)
	return s, err
})

// BenchmarkRead: concurrent reads by id of 10,000 patients.
func BenchmarkRead(b *testing.B) {
	s, err := readFixture()
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.SetParallelism(4)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := s.Read(ctx, "Patient", fmt.Sprintf("p%d", rand.IntN(10000))); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// indexedPatients are n Patients of about 2 KB as an EHR sends them, with the index search.Registry
// extracts (~75 index keys, ~22 sort keys each), made once.
func indexedPatients(b *testing.B, n int) []storage.Write {
	b.Helper()
	reg := r4test.Load(b).Registry
	out := make([]storage.Write, n)
	for i := range out {
		body := fmt.Sprintf(ehrPatient, i, i, i%97, i%89, i%1000, i)
		var tree map[string]any
		dec := json.NewDecoder(strings.NewReader(body))
		dec.UseNumber()
		if err := dec.Decode(&tree); err != nil {
			b.Fatal(err)
		}
		idx, err := reg.Index("Patient", tree)
		if err != nil {
			b.Fatal(err)
		}
		out[i] = storage.Write{Type: "Patient", Body: []byte(body), Index: idx}
	}
	return out
}

const ehrPatient = `{"resourceType":"Patient","meta":{"profile":["http://hl7.org/fhir/us/core/StructureDefinition/us-core-patient"]},
"extension":[{"url":"http://hl7.org/fhir/us/core/StructureDefinition/us-core-birthsex","valueCode":"F"}],
"identifier":[{"use":"usual","type":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v2-0203","code":"MR"}]},"system":"urn:oid:1.2.36.146.595.217.0.1","value":"MRN%08d"},
{"system":"http://hl7.org/fhir/sid/us-ssn","value":"999-%06d"}],"active":true,
"name":[{"use":"official","family":"Family%d","given":["Given%d","Marie"],"prefix":["Ms."]}],
"telecom":[{"system":"phone","value":"(03) 5555 %04d","use":"work","rank":1},{"system":"email","value":"p%d@example.org"}],
"gender":"female","birthDate":"1974-12-25",
"address":[{"use":"home","type":"both","line":["534 Erewhon St"],"city":"PleasantVille","district":"Rainbow","state":"Vic","postalCode":"3999","country":"AU"}],
"maritalStatus":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v3-MaritalStatus","code":"M"}]},
"communication":[{"language":{"coding":[{"system":"urn:ietf:bcp:47","code":"es"}]},"preferred":true}],
"generalPractitioner":[{"reference":"Practitioner/gp-7"}],"managingOrganization":{"reference":"Organization/1"}}`

// BenchmarkCreateIndexed: BenchmarkCreate with realistic Patients and their full index (the writer's
// work per create in the server). On Linux it also reports the writer goroutine's CPU per create
// (writer-cpu-µs/op, of which commit-cpu-µs/op in COMMIT: WAL frames, fsync, checkpoints) and the creates
// per commit, measured from the store's commit hooks with the writer locked to its thread.
func BenchmarkCreateIndexed(b *testing.B) {
	writes := indexedPatients(b, 5000)
	var wc writerClock
	s := sqlitetest.OpenWith(b, sqlite.Options{Synchronous: "full", Hooks: wc.hooks()})
	var n atomic.Int64
	b.SetParallelism(4)
	cpu := startCPU(b)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			w := writes[int(n.Add(1))%len(writes)]
			w.ID = fmt.Sprint("p", n.Load(), "-", rand.Int())
			if _, err := s.Create(context.Background(), w); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.StopTimer()
	cpu.report(b)
	wc.report(b)
}

// writerClock measures the writer goroutine's CPU time through the commit hooks, which run on it: the
// first hook locks it to its OS thread, so that the thread's CPU time (RUSAGE_THREAD, Linux) is the
// writer's (from its first commit on). Its fields are written by the writer only, and read after the
// benchmark's last create was answered (which follows its commit's AfterCommit).
type writerClock struct {
	locked                   bool
	start, last, commitStart time.Duration
	commit                   time.Duration
	commits, creates         int
}

func (c *writerClock) hooks() sqlite.Hooks {
	if runtime.GOOS != "linux" {
		return sqlite.Hooks{}
	}
	return sqlite.Hooks{
		BeforeCommit: func(int) error {
			if !c.locked {
				runtime.LockOSThread() // for the store's life: the writer goroutine never returns
				c.locked = true
				c.start = threadCPU() // the first group's statements before this are not counted
			}
			c.commitStart = threadCPU()
			return nil
		},
		AfterCommit: func(n int) {
			c.last = threadCPU()
			c.commit += c.last - c.commitStart
			c.commits++
			c.creates += n
		},
	}
}

func (c *writerClock) report(b *testing.B) {
	if c.creates == 0 {
		return // not Linux
	}
	b.ReportMetric(float64(c.last-c.start)/float64(time.Microsecond)/float64(c.creates), "writer-cpu-µs/op")
	b.ReportMetric(float64(c.commit)/float64(time.Microsecond)/float64(c.creates), "commit-cpu-µs/op")
	b.ReportMetric(float64(c.creates)/float64(c.commits), "creates/commit")
}

// threadCPU is the calling thread's CPU time (user + system).
func threadCPU() time.Duration {
	const rusageThread = 1 // RUSAGE_THREAD (Linux)
	var ru syscall.Rusage
	if err := syscall.Getrusage(rusageThread, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
