package grant

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/permission-mongo/permission-mongo/internal/store"
	"github.com/permission-mongo/permission-mongo/internal/testenv"
)

// The reaper of every proxy runs a pass only while it holds the lease
// (Reaper.AcquireLease). `pm serve` starts the reaper only where grants can
// be issued, which needs custom roles; neither engine these tests run on has
// them (testenv's declared gaps), so no real `pm serve` fleet here would
// start a reaper. This test therefore runs the election itself across
// processes: three processes (this test binary, re-executed) contend for
// the lease on one database as three proxies would, and each records the
// passes it makes while holding it. No two passes may overlap, and when the
// holder is SIGKILLed another process takes over once the lease expires.

// Environment of a lease worker process (see TestMain).
const (
	leaseWorkerURI = "PM_LEASE_WORKER_URI"
	leaseWorkerDB  = "PM_LEASE_WORKER_DB"
	leaseWorkerID  = "PM_LEASE_WORKER_ID"
)

// Timings of the workers: a pass every 20 ms, a lease of 3 s. A holder
// renews far more often than the lease lasts, so a takeover while it lives
// would be a bug (or a process stalled for seconds, which the overlap check
// still catches if it then made a pass).
const (
	leaseTTL       = 3 * time.Second
	leasePassEvery = 20 * time.Millisecond
	leasePassWork  = 5 * time.Millisecond
)

// runLeaseWorker is the body of a worker process: contend for the lease
// until killed, and record every pass made while holding it, with its start
// and end (this machine's clock, shared by every worker), in lease_passes.
// Attempts refused because another holds the lease are recorded, one
// document each, in lease_standby.
func runLeaseWorker() int {
	ctx := context.Background()
	client, err := store.Open(ctx, os.Getenv(leaseWorkerURI))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	db := client.Database(os.Getenv(leaseWorkerDB))
	id := os.Getenv(leaseWorkerID)
	r := &Reaper{
		M:        &Manager{Client: client, Ledger: db.Collection("pm_grants")},
		Leases:   db.Collection("pm_leases"),
		Holder:   id,
		LeaseTTL: leaseTTL,
	}
	passes, standby := db.Collection("lease_passes"), db.Collection("lease_standby")
	for {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		ok, err := r.AcquireLease(cctx)
		cancel()
		switch {
		case err != nil:
			fmt.Fprintln(os.Stderr, "lease:", err) // the engine was slow; try again
		case ok:
			start := time.Now().UnixNano()
			time.Sleep(leasePassWork) // the pass's work
			end := time.Now().UnixNano()
			if err := passes.InsertOne(ctx, bson.D{{Key: "holder", Value: id}, {Key: "start", Value: start}, {Key: "end", Value: end}}); err != nil {
				fmt.Fprintln(os.Stderr, "record pass:", err)
			}
		default:
			_ = standby.InsertOne(ctx, bson.D{{Key: "holder", Value: id}})
		}
		time.Sleep(leasePassEvery)
	}
}

type leasePass struct {
	Holder string `bson:"holder"`
	Start  int64  `bson:"start"`
	End    int64  `bson:"end"`
}

func TestReaperLeaseOneHolderAcrossProcesses(t *testing.T) {
	// The lease is a conditional update (take it if expired), which is a
	// compare-and-set only where the server applies filter and update
	// atomically. On the embedded FerretDB v1 two workers took an expired
	// lease at the same moment (in 1 of 3 runs): there it is not. No reaper
	// runs there (grants need user management, which it lacks, and custom
	// roles), so the election is tested where one could run.
	testenv.RequireCapability(t, testenv.CapUserManagement)
	db := testenv.Store(t)
	uri := testenv.MongoURI(t)
	ctx := t.Context()

	// Three workers, as three proxies.
	workers := map[string]*exec.Cmd{}
	var mu sync.Mutex
	for i := range 3 {
		id := "proxy-" + strconv.Itoa(i)
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), leaseWorkerURI+"="+uri, leaseWorkerDB+"="+db.Name(), leaseWorkerID+"="+id)
		var out strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &out
		require.NoError(t, cmd.Start())
		workers[id] = cmd
		t.Cleanup(func() {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			if t.Failed() {
				mu.Lock()
				t.Logf("%s output:\n%s", id, out.String())
				mu.Unlock()
			}
		})
	}

	passes := func() []leasePass {
		var ps []leasePass
		require.NoError(t, db.Collection("lease_passes").FindAll(ctx, bson.D{}, store.Find{Sort: bson.D{{Key: "start", Value: 1}}}, &ps))
		return ps
	}
	standby := func(id string) int64 {
		n, err := db.Collection("lease_standby").Count(ctx, bson.D{{Key: "holder", Value: id}})
		require.NoError(t, err)
		return n
	}
	holdersOf := func(ps []leasePass) []string {
		var hs []string
		for _, p := range ps {
			if !slices.Contains(hs, p.Holder) {
				hs = append(hs, p.Holder)
			}
		}
		return hs
	}

	// Contention: passes are made while the other two keep asking.
	var first []leasePass
	testenv.WaitUntil(t, func() bool {
		first = passes()
		if len(first) < 30 {
			return false
		}
		refused := 0
		for id := range workers {
			if id != first[len(first)-1].Holder && standby(id) >= 5 {
				refused++
			}
		}
		return refused == 2
	}, "30 passes while the two other workers are refused the lease")
	requireNoOverlap(t, first)
	t.Logf("%d passes by %v; the others were refused the lease", len(first), holdersOf(first))

	// The holder dies without releasing the lease: another worker takes
	// over, once the lease has expired, and only then.
	holder := first[len(first)-1].Holder
	require.NoError(t, workers[holder].Process.Kill())
	killedAt := time.Now().UnixNano()
	var lease struct {
		Holder string    `bson:"holder"`
		Until  time.Time `bson:"until"`
	}
	require.NoError(t, db.Collection("pm_leases").FindOne(ctx, bson.D{}, store.Find{}, &lease))
	require.Equal(t, holder, lease.Holder)
	var after, since []leasePass
	testenv.WaitUntil(t, func() bool {
		after = passes()
		since = since[:0]
		for _, p := range after {
			if p.Start > killedAt {
				since = append(since, p)
			}
		}
		return len(since) >= 10
	}, "another worker reaping after the holder was killed")
	requireNoOverlap(t, after)
	hs := holdersOf(since)
	require.Len(t, hs, 1, "one holder after the takeover")
	require.NotEqual(t, holder, hs[0])
	takeover := time.Unix(0, since[0].Start)
	t.Logf("holder %s killed; %s took over %v after the kill, lease until %v after", holder, hs[0],
		takeover.Sub(time.Unix(0, killedAt)), lease.Until.Sub(time.Unix(0, killedAt)))
	require.False(t, takeover.Before(lease.Until), "the lease was taken before it expired")
}

// requireNoOverlap fails when two passes (sorted by start) ran at the same
// time: each must start after the one before it ended.
func requireNoOverlap(t *testing.T, ps []leasePass) {
	t.Helper()
	for i := 1; i < len(ps); i++ {
		require.GreaterOrEqual(t, ps[i].Start, ps[i-1].End,
			"passes overlap: %s %d–%d and %s %d–%d", ps[i-1].Holder, ps[i-1].Start, ps[i-1].End, ps[i].Holder, ps[i].Start, ps[i].End)
	}
}
