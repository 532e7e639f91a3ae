package httpfuzz

import (
	"flag"
	"fmt"
	"math/rand"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/permission-mongo/permission-mongo/internal/app/apptest"
	"github.com/permission-mongo/permission-mongo/internal/principal"
	"github.com/permission-mongo/permission-mongo/internal/testenv"
)

// Budget and replay. Environment variables work across `go test ./...`;
// the flags are for a run of this package alone.
var (
	flagCases = flag.Int("cases", 0, "number of generated HTTP cases (PM_FUZZ_HTTP_CASES; default 300, 200 with -race)")
	flagSeed  = flag.Int64("seed", 0, "seed to replay (PM_FUZZ_HTTP_SEED; default: time)")
	flagKnown = flag.String("known", "", "known open findings to switch on: all or a comma list (PM_FUZZ_HTTP_KNOWN)")
)

const defaultCases = 300

// defaultRaceCases is the budget under -race (see race_test.go).
const defaultRaceCases = 200

// reseedEvery bounds how far the documents drift from their seeded shape:
// every so many cases both worlds get fresh twins.
const reseedEvery = 16

func settings(t *testing.T) (cases int, seed int64, known map[string]bool) {
	t.Helper()
	cases = *flagCases
	if cases == 0 {
		if s := os.Getenv("PM_FUZZ_HTTP_CASES"); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n < 1 {
				t.Fatalf("PM_FUZZ_HTTP_CASES=%q is not a positive number", s)
			}
			cases = n
		}
	}
	if cases == 0 {
		cases = defaultCases
		if raceBuild {
			cases = defaultRaceCases
		}
	}
	seed = *flagSeed
	if seed == 0 {
		if s := os.Getenv("PM_FUZZ_HTTP_SEED"); s != "" {
			n, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				t.Fatalf("PM_FUZZ_HTTP_SEED=%q is not a number", s)
			}
			seed = n
		}
	}
	if seed == 0 {
		seed = time.Now().UnixNano() % 1_000_000_000
	}
	spec := *flagKnown
	if spec == "" {
		spec = os.Getenv("PM_FUZZ_HTTP_KNOWN")
	}
	known = map[string]bool{}
	for _, k := range strings.Split(spec, ",") {
		k = strings.TrimSpace(k)
		switch k {
		case "":
		case "all":
			for _, n := range knownOpenFindings {
				known[n] = true
			}
		default:
			ok := false
			for _, n := range knownOpenFindings {
				ok = ok || n == k
			}
			if !ok {
				t.Fatalf("PM_FUZZ_HTTP_KNOWN: unknown class %q (known: %s)", k, strings.Join(knownOpenFindings, ", "))
			}
			known[k] = true
		}
	}
	return cases, seed, known
}

// TestHTTPGenerator sends generated requests — filters, sorts, projections,
// every update operator on dotted, indexed and positional paths, pipelines,
// batch bodies, creates, replaces and deletes — aimed at a policy with
// hidden, masked and deny_write fields at every depth, to two proxies over
// two databases whose documents are twins: equal in every field the caller
// can see, different in every field it cannot (absent, null, scalar,
// number, object, array). For every request:
//
//   - never a 5xx (nor a hang, nor a batch item failing internally);
//   - no hidden value, unmasked masked value or other tenant's data in the
//     answer (every such value carries a marker the test searches for);
//   - after a write, read straight from the database: no deny_write field
//     changed, no hidden or masked field changed unless the update named it
//     exactly, no other tenant's document touched;
//   - the oracle check: both twins give the same answer, and after a write
//     both databases still agree on every visible field.
//
// The seed is printed; PM_FUZZ_HTTP_SEED replays a run.
func TestHTTPGenerator(t *testing.T) {
	cases, seed, known := settings(t)
	t.Logf("seed %d, %d cases, backend %s; replay with PM_FUZZ_HTTP_SEED=%d PM_FUZZ_HTTP_CASES=%d", seed, cases, testenv.Backend(), seed, cases)
	var on []string
	for _, k := range knownOpenFindings {
		if known[k] {
			on = append(on, k)
		}
	}
	if len(on) > 0 {
		t.Logf("known open findings switched on: %s", strings.Join(on, ", "))
	}

	pf := apptest.WriteFile(t, "policy.yml", fuzzPolicy)
	ks := testenv.NewKeys() // both proxies authenticate against it
	worlds := [2]*world{newWorld(t, "A", pf, ks), newWorld(t, "B", pf, ks)}
	callers := []caller{
		{name: "clerk", key: ks.Add(principal.Principal{ID: "u1", TenantID: "t1", Roles: []string{"clerk"}}, nil)},
		{name: "viewer", key: ks.Add(principal.Principal{ID: "u2", TenantID: "t1", Roles: []string{"viewer"}}, nil), viewer: true},
		{name: "clerk+viewer", key: ks.Add(principal.Principal{ID: "u3", TenantID: "t1", Roles: []string{"clerk", "viewer"}}, nil)},
	}

	ctx := t.Context()
	trace := os.Getenv("PM_FUZZ_HTTP_TRACE") != ""
	embedded := testenv.Backend() == testenv.BackendFerretDB
	arrays := known[knownArraysOfArrays]
	if arrays && embedded {
		// FerretDB v1 refuses to store them ("nested arrays are not
		// supported"), so there is nothing there for the rules to miss.
		t.Logf("%s: not seeded, the embedded FerretDB v1 does not store arrays of arrays", knownArraysOfArrays)
		arrays = false
	}
	rep := newReport()
	needReseed := true
	start := time.Now()
	for i := 0; i < cases; i++ {
		// A database error of the harness itself ends the run, naming the
		// case: a request that brings the server down is the worst finding.
		var req request
		var res [2]reply
		dbFailed := func(err error) {
			rep.log(t)
			t.Fatalf("case %d: database: %v\n    last request: %s\n    answers: A %d %s / B %d %s", i, err, req,
				res[0].status, clip(res[0].body), res[1].status, clip(res[1].body))
		}
		if needReseed || i%reseedEvery == 0 {
			a, b := seedDocs(rand.New(rand.NewSource(mix(seed, i, 1))), arrays)
			if err := parallel(func() error { return worlds[0].reseed(ctx, a) }, func() error { return worlds[1].reseed(ctx, b) }); err != nil {
				dbFailed(err)
			}
			needReseed = false
		}
		g := &gen{r: rand.New(rand.NewSource(mix(seed, i, 0))), enabled: known, embedded: embedded}
		c := callers[[]int{0, 0, 0, 1, 2}[g.r.Intn(5)]]
		req = g.request()

		if trace {
			// to stderr, next to the embedded server's own log lines
			fmt.Fprintf(os.Stderr, "case %d as %s: %s\n", i, c.name, req)
		}
		var before [2]map[string]bson.D
		if req.write {
			if err := parallel(func() (err error) { before[0], err = worlds[0].snapshot(ctx); return },
				func() (err error) { before[1], err = worlds[1].snapshot(ctx); return }); err != nil {
				dbFailed(err)
			}
		}
		var wg sync.WaitGroup
		for w := range worlds {
			wg.Add(1)
			go func() { defer wg.Done(); res[w] = worlds[w].send(req, c.key) }()
		}
		wg.Wait()

		var fs []finding
		for w, r := range res {
			fs = append(fs, checkStatus(worlds[w].name, r)...)
			fs = append(fs, checkLeak(worlds[w].name, req, c, r)...)
		}
		fs = append(fs, checkOracle(req, res[0], res[1])...)
		if req.write {
			var after [2]map[string]bson.D
			if err := parallel(func() (err error) { after[0], err = worlds[0].snapshot(ctx); return },
				func() (err error) { after[1], err = worlds[1].snapshot(ctx); return }); err != nil {
				dbFailed(err)
			}
			for w := range worlds {
				fs = append(fs, checkStored(worlds[w].name, req, before[w], after[w])...)
			}
			fs = append(fs, checkDivergence(after[0], after[1])...)
		}
		rep.add(i, req, c, res[0].status, classes(g, fs), fs)
		if len(fs) > 0 || (req.write && len(g.used) > 0) {
			// the twins may no longer be twins, or a known finding's
			// production left a shape later requests would trip on
			needReseed = true
		}
	}
	t.Logf("%d cases in %s", cases, time.Since(start).Round(time.Millisecond))
	rep.log(t)
	if len(rep.sigs) > 0 {
		t.Errorf("%d distinct findings (seed %d); replay with PM_FUZZ_HTTP_SEED=%d PM_FUZZ_HTTP_CASES=%d", len(rep.sigs), seed, seed, cases)
	}
}

// mix derives the random source of case i from the run's seed (splitmix64),
// so a case's request does not depend on how much randomness earlier cases
// used, and nearby seeds do not give correlated streams.
func mix(seed int64, i int, salt uint64) int64 {
	z := uint64(seed) + uint64(i)*0x9E3779B97F4A7C15 + salt*0xBF58476D1CE4E5B9
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
	z = (z ^ (z >> 27)) * 0x94D049BB133111EB
	return int64(z ^ (z >> 31))
}

func parallel(a, b func() error) error {
	var ea, eb error
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); ea = a() }()
	eb = b()
	wg.Wait()
	if ea != nil || eb != nil {
		return fmt.Errorf("A: %w / B: %w", ea, eb)
	}
	return nil
}

// report groups findings by signature (check, endpoint, status) and keeps
// the shortest request of each as its reproduction.
type report struct {
	kinds  map[string]int
	status map[int]int
	sigs   map[string]*example
}

type example struct {
	count  int
	cas    int
	caller string
	req    request
	detail string
}

func newReport() *report {
	return &report{kinds: map[string]int{}, status: map[int]int{}, sigs: map[string]*example{}}
}

// classes names the known open findings a case used: its productions, and
// arrays of arrays when a failure shows the grid field that only that class
// seeds.
func classes(g *gen, fs []finding) string {
	var out []string
	for _, k := range knownOpenFindings {
		if g.used[k] {
			out = append(out, k)
		}
	}
	for _, f := range fs {
		if strings.Contains(f.detail, "grid") && g.enabled[knownArraysOfArrays] {
			out = append(out, knownArraysOfArrays)
			break
		}
	}
	if len(out) == 0 {
		return "new"
	}
	return strings.Join(out, "+")
}

func (r *report) add(i int, req request, c caller, status int, cls string, fs []finding) {
	r.kinds[req.kind]++
	r.status[status]++
	for _, f := range fs {
		sig := fmt.Sprintf("%s %s %d | %s", f.check, req.kind, status, cls)
		ex := r.sigs[sig]
		if ex == nil {
			ex = &example{}
			r.sigs[sig] = ex
		}
		ex.count++
		if ex.detail == "" || len(req.String()) < len(ex.req.String()) {
			ex.cas, ex.caller, ex.req, ex.detail = i, c.name, req, f.detail
		}
	}
}

func (r *report) log(t *testing.T) {
	t.Helper()
	var b strings.Builder
	b.WriteString("requests per endpoint:")
	for _, k := range sortedKeys(r.kinds) {
		fmt.Fprintf(&b, " %s=%d", k, r.kinds[k])
	}
	b.WriteString("\nstatus (world A):")
	var codes []int
	for s := range r.status {
		codes = append(codes, s)
	}
	sort.Ints(codes)
	for _, s := range codes {
		fmt.Fprintf(&b, " %d=%d", s, r.status[s])
	}
	t.Log(b.String())
	for _, sig := range sortedKeys(r.sigs) {
		ex := r.sigs[sig]
		t.Logf("FINDING [%s] ×%d, shortest at case %d as %s:\n    %s\n    %s", sig, ex.count, ex.cas, ex.caller, ex.req, ex.detail)
	}
}
