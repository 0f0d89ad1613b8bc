// Command concurrency drives clientv3/concurrency (3.4) against a server and
// prints one JSON object with what it observed, for the test to check:
//
//	mutex:    20 sessions contend for one lock (half through concurrency.Mutex,
//	          half through the v3lock service, on the same key names) and each
//	          increments a shared counter 50 times; every hold's revisions are
//	          reported so the test can check that no two holds overlap.
//	election: three candidates campaign in turn, the leader proclaims, an
//	          observer records every leader it sees; a leader whose session
//	          lease is revoked loses to the next candidate.
//	services: the Election and Lock services called directly, errors included,
//	          printed so that etcd's and Lattice's outputs can be compared.
//	stm:      10 goroutines move money between 5 accounts with concurrency.NewSTM;
//	          the total must stay the same.
//
// Usage: concurrency --endpoints http://127.0.0.1:2379 --mode mutex|election|stm
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.etcd.io/etcd/clientv3"
	"go.etcd.io/etcd/clientv3/concurrency"
	"go.etcd.io/etcd/etcdserver/api/v3election/v3electionpb"
	"go.etcd.io/etcd/etcdserver/api/v3lock/v3lockpb"
	"google.golang.org/grpc/status"
	"go.uber.org/zap"
)

const (
	sessions      = 20
	increments    = 50
	counterKey    = "/counter"
	lockName      = "/counter-lock"
	runTimeout    = 120 * time.Second
	sessionTTLSec = 10
)

var quietLog = zap.Config{
	Level:            zap.NewAtomicLevelAt(zap.ErrorLevel),
	Encoding:         "json",
	EncoderConfig:    zap.NewProductionEncoderConfig(),
	OutputPaths:      []string{"stderr"},
	ErrorOutputPaths: []string{"stderr"},
}

// Hold is one critical section: the revision the lock was granted at, the
// revision of the counter put made while holding it, and of the unlock.
type Hold struct {
	Session  int   `json:"session"`
	Acquired int64 `json:"acquired"`
	Put      int64 `json:"put"`
	Released int64 `json:"released"`
}

func main() {
	endpoints := flag.String("endpoints", "http://127.0.0.1:2379", "client URLs")
	mode := flag.String("mode", "mutex", "mutex | election | stm")
	flag.Parse()
	cli, err := clientv3.New(clientv3.Config{Endpoints: strings.Split(*endpoints, ","), DialTimeout: 10 * time.Second, LogConfig: &quietLog})
	if err != nil {
		fatalf("connect: %v", err)
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), runTimeout)
	defer cancel()
	var out interface{}
	switch *mode {
	case "mutex":
		out, err = runMutex(ctx, cli)
	case "election":
		out, err = runElection(ctx, cli)
	case "stm":
		out, err = runSTM(ctx, cli)
	case "services":
		out, err = runServices(ctx, cli)
	default:
		err = fmt.Errorf("unknown mode %q", *mode)
	}
	if err != nil {
		fatalf("%s: %v", *mode, err)
	}
	if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
		fatalf("write: %v", err)
	}
}

func fatalf(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "concurrency: "+format+"\n", args...)
	os.Exit(2)
}

func runMutex(ctx context.Context, cli *clientv3.Client) (interface{}, error) {
	if _, err := cli.Put(ctx, counterKey, "0"); err != nil {
		return nil, err
	}
	var mu sync.Mutex
	var holds []Hold
	var firstErr error
	var wg sync.WaitGroup
	for i := 0; i < sessions; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			err := contend(ctx, cli, i, func(h Hold) {
				mu.Lock()
				holds = append(holds, h)
				mu.Unlock()
			})
			if err != nil {
				mu.Lock()
				if firstErr == nil {
					firstErr = fmt.Errorf("session %d: %v", i, err)
				}
				mu.Unlock()
			}
		}(i)
	}
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	resp, err := cli.Get(ctx, counterKey)
	if err != nil {
		return nil, err
	}
	return map[string]interface{}{"counter": string(resp.Kvs[0].Value), "holds": holds}, nil
}

// contend takes the lock increments times; even sessions use concurrency.Mutex,
// odd ones the v3lock service with their session's lease.
func contend(ctx context.Context, cli *clientv3.Client, i int, record func(Hold)) error {
	s, err := concurrency.NewSession(cli, concurrency.WithTTL(sessionTTLSec))
	if err != nil {
		return err
	}
	defer s.Close()
	lockClient := v3lockpb.NewLockClient(cli.ActiveConnection())
	for n := 0; n < increments; n++ {
		var acquired int64
		var unlock func() (int64, error)
		if i%2 == 0 {
			m := concurrency.NewMutex(s, lockName)
			if err := m.Lock(ctx); err != nil {
				return err
			}
			acquired = m.Header().Revision
			unlock = func() (int64, error) {
				resp, err := cli.Delete(ctx, m.Key())
				if err != nil {
					return 0, err
				}
				return resp.Header.Revision, nil
			}
		} else {
			resp, err := lockClient.Lock(ctx, &v3lockpb.LockRequest{Name: []byte(lockName), Lease: int64(s.Lease())})
			if err != nil {
				return err
			}
			acquired = resp.Header.Revision
			key := resp.Key
			unlock = func() (int64, error) {
				resp, err := lockClient.Unlock(ctx, &v3lockpb.UnlockRequest{Key: key})
				if err != nil {
					return 0, err
				}
				return resp.Header.Revision, nil
			}
		}
		get, err := cli.Get(ctx, counterKey)
		if err != nil {
			return err
		}
		v, _ := strconv.Atoi(string(get.Kvs[0].Value))
		put, err := cli.Put(ctx, counterKey, strconv.Itoa(v+1))
		if err != nil {
			return err
		}
		released, err := unlock()
		if err != nil {
			return err
		}
		record(Hold{Session: i, Acquired: acquired, Put: put.Header.Revision, Released: released})
	}
	return nil
}

func runElection(ctx context.Context, cli *clientv3.Client) (interface{}, error) {
	const name = "/elect"
	var seen []string
	var seenMu sync.Mutex
	observer, err := concurrency.NewSession(cli)
	if err != nil {
		return nil, err
	}
	defer observer.Close()
	octx, ocancel := context.WithCancel(ctx)
	defer ocancel()
	observed := concurrency.NewElection(observer, name).Observe(octx)
	go func() {
		for resp := range observed {
			seenMu.Lock()
			seen = append(seen, string(resp.Kvs[0].Value))
			seenMu.Unlock()
		}
	}()

	noLeader := ""
	if _, err := concurrency.NewElection(observer, name).Leader(ctx); err != nil {
		noLeader = err.Error()
	}
	var candidates []*concurrency.Session
	var elections []*concurrency.Election
	for i := 0; i < 3; i++ {
		s, err := concurrency.NewSession(cli, concurrency.WithTTL(sessionTTLSec))
		if err != nil {
			return nil, err
		}
		defer s.Close()
		candidates = append(candidates, s)
		elections = append(elections, concurrency.NewElection(s, name))
	}
	if err := elections[0].Campaign(ctx, "a1"); err != nil {
		return nil, err
	}
	won := make(chan string, 2)
	for i := 1; i < 3; i++ {
		go func(i int) {
			v := fmt.Sprintf("c%d", i)
			if err := elections[i].Campaign(ctx, v); err != nil {
				won <- "error: " + err.Error()
				return
			}
			won <- v
		}(i)
		time.Sleep(200 * time.Millisecond) // campaign in order: candidate 1 before candidate 2
	}
	// Observe reports the leader it finds after each change, so a change made before the observer
	// has caught up may be skipped (its Get can already find the next one): each step waits until
	// the observer has seen the leader it made.
	waitSeen := func(v string) {
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) {
			seenMu.Lock()
			done := len(seen) > 0 && seen[len(seen)-1] == v
			seenMu.Unlock()
			if done {
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	if err := elections[0].Proclaim(ctx, "a2"); err != nil {
		return nil, err
	}
	waitSeen("a2")
	leader, err := elections[1].Leader(ctx)
	if err != nil {
		return nil, err
	}
	leaderWhileA := string(leader.Kvs[0].Value)
	if err := elections[0].Resign(ctx); err != nil {
		return nil, err
	}
	first := <-won
	waitSeen(first)
	// The second leader loses its lease: the third candidate takes over.
	if _, err := cli.Revoke(ctx, candidates[1].Lease()); err != nil {
		return nil, err
	}
	second := <-won
	waitSeen(second)
	notLeader := ""
	if err := elections[1].Proclaim(ctx, "late"); err != nil {
		notLeader = err.Error()
	}
	if err := elections[2].Proclaim(ctx, "c2-final"); err != nil {
		return nil, err
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		seenMu.Lock()
		done := len(seen) > 0 && seen[len(seen)-1] == "c2-final"
		seenMu.Unlock()
		if done {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	ocancel()
	seenMu.Lock()
	defer seenMu.Unlock()
	return map[string]interface{}{
		"no_leader":      noLeader,
		"leader_while_a": leaderWhileA,
		"won":            []string{first, second},
		"not_leader":     notLeader,
		"observed":       seen,
	}, nil
}

func runSTM(ctx context.Context, cli *clientv3.Client) (interface{}, error) {
	const accounts = 5
	const workers = 10
	const transfers = 20
	for i := 0; i < accounts; i++ {
		if _, err := cli.Put(ctx, fmt.Sprintf("/acct/%d", i), "100"); err != nil {
			return nil, err
		}
	}
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for t := 0; t < transfers; t++ {
				from, to := fmt.Sprintf("/acct/%d", (w+t)%accounts), fmt.Sprintf("/acct/%d", (w+t+1)%accounts)
				_, err := concurrency.NewSTM(cli, func(stm concurrency.STM) error {
					a, _ := strconv.Atoi(stm.Get(from))
					b, _ := strconv.Atoi(stm.Get(to))
					stm.Put(from, strconv.Itoa(a-7))
					stm.Put(to, strconv.Itoa(b+7))
					return nil
				}, concurrency.WithAbortContext(ctx))
				if err != nil {
					errs <- err
					return
				}
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		return nil, err
	}
	total := 0
	resp, err := cli.Get(ctx, "/acct/", clientv3.WithPrefix())
	if err != nil {
		return nil, err
	}
	for _, kv := range resp.Kvs {
		v, _ := strconv.Atoi(string(kv.Value))
		total += v
	}
	return map[string]interface{}{"total": total, "accounts": len(resp.Kvs)}, nil
}

func describe(err error) string {
	st := status.Convert(err)
	return st.Code().String() + ": " + st.Message()
}

func runServices(ctx context.Context, cli *clientv3.Client) (interface{}, error) {
	ec := v3electionpb.NewElectionClient(cli.ActiveConnection())
	lc := v3lockpb.NewLockClient(cli.ActiveConnection())
	name := []byte("/svc-elect")
	out := map[string]interface{}{}
	_, err := ec.Leader(ctx, &v3electionpb.LeaderRequest{Name: name})
	out["leader_none"] = describe(err)
	l1, err := cli.Grant(ctx, 60)
	if err != nil {
		return nil, err
	}
	l2, err := cli.Grant(ctx, 60)
	if err != nil {
		return nil, err
	}
	octx, ocancel := context.WithCancel(ctx)
	defer ocancel()
	obs, err := ec.Observe(octx, &v3electionpb.LeaderRequest{Name: name})
	if err != nil {
		return nil, err
	}
	var observed []string
	var obsMu sync.Mutex
	go func() {
		for {
			resp, err := obs.Recv()
			if err != nil {
				return
			}
			obsMu.Lock()
			observed = append(observed, fmt.Sprintf("%s@%d", resp.Kv.Value, resp.Header.Revision))
			obsMu.Unlock()
		}
	}()
	c1, err := ec.Campaign(ctx, &v3electionpb.CampaignRequest{Name: name, Lease: int64(l1.ID), Value: []byte("v1")})
	if err != nil {
		return nil, err
	}
	out["campaign1"] = map[string]interface{}{
		"rev": c1.Header.Revision, "leader_rev": c1.Leader.Rev, "name": string(c1.Leader.Name),
		"key_is_name_slash_lease_hex": string(c1.Leader.Key) == fmt.Sprintf("%s/%x", name, l1.ID), "lease_is_l1": c1.Leader.Lease == int64(l1.ID),
	}
	second := make(chan string, 1)
	go func() {
		c2, err := ec.Campaign(ctx, &v3electionpb.CampaignRequest{Name: name, Lease: int64(l2.ID), Value: []byte("v2")})
		if err != nil {
			second <- describe(err)
			return
		}
		second <- fmt.Sprintf("won at %d, leader rev %d", c2.Header.Revision, c2.Leader.Rev)
	}()
	time.Sleep(300 * time.Millisecond)
	p, err := ec.Proclaim(ctx, &v3electionpb.ProclaimRequest{Leader: c1.Leader, Value: []byte("v1b")})
	if err != nil {
		return nil, err
	}
	out["proclaim_rev"] = p.Header.Revision
	stale := *c1.Leader
	stale.Rev++
	_, err = ec.Proclaim(ctx, &v3electionpb.ProclaimRequest{Leader: &stale, Value: []byte("x")})
	out["proclaim_not_leader"] = describe(err)
	_, err = ec.Proclaim(ctx, &v3electionpb.ProclaimRequest{Value: []byte("x")})
	out["proclaim_no_leader_key"] = describe(err)
	_, err = ec.Resign(ctx, &v3electionpb.ResignRequest{})
	out["resign_no_leader_key"] = describe(err)
	ld, err := ec.Leader(ctx, &v3electionpb.LeaderRequest{Name: name})
	if err != nil {
		return nil, err
	}
	out["leader"] = fmt.Sprintf("%s@%d create %d", ld.Kv.Value, ld.Header.Revision, ld.Kv.CreateRevision)
	r, err := ec.Resign(ctx, &v3electionpb.ResignRequest{Leader: c1.Leader})
	if err != nil {
		return nil, err
	}
	out["resign_rev"] = r.Header.Revision
	out["campaign2"] = <-second
	r, err = ec.Resign(ctx, &v3electionpb.ResignRequest{Leader: c1.Leader})
	if err != nil {
		return nil, err
	}
	out["resign_again_rev"] = r.Header.Revision
	if _, err := cli.Revoke(ctx, l2.ID); err != nil {
		return nil, err
	}
	_, err = ec.Leader(ctx, &v3electionpb.LeaderRequest{Name: name})
	out["leader_after_revoke"] = describe(err)
	time.Sleep(300 * time.Millisecond)
	ocancel()
	obsMu.Lock()
	out["observed"] = observed
	obsMu.Unlock()

	_, err = lc.Lock(ctx, &v3lockpb.LockRequest{Name: []byte("/svc-lock"), Lease: 424242})
	out["lock_missing_lease"] = describe(err)
	lk, err := lc.Lock(ctx, &v3lockpb.LockRequest{Name: []byte("/svc-lock"), Lease: int64(l1.ID)})
	if err != nil {
		return nil, err
	}
	out["lock"] = map[string]interface{}{"rev": lk.Header.Revision, "key_is_name_slash_lease_hex": string(lk.Key) == fmt.Sprintf("/svc-lock/%x", l1.ID)}
	again, err := lc.Lock(ctx, &v3lockpb.LockRequest{Name: []byte("/svc-lock"), Lease: int64(l1.ID)})
	if err != nil {
		return nil, err
	}
	out["lock_again_same_session_rev"] = again.Header.Revision
	// A waiter behind a holder whose lease is revoked gets the lock as soon as the holder's key goes.
	l3, err := cli.Grant(ctx, 60)
	if err != nil {
		return nil, err
	}
	l4, err := cli.Grant(ctx, 60)
	if err != nil {
		return nil, err
	}
	holder, err := lc.Lock(ctx, &v3lockpb.LockRequest{Name: []byte("/svc-lock2"), Lease: int64(l3.ID)})
	if err != nil {
		return nil, err
	}
	waiter := make(chan string, 1)
	go func() {
		w, err := lc.Lock(ctx, &v3lockpb.LockRequest{Name: []byte("/svc-lock2"), Lease: int64(l4.ID)})
		if err != nil {
			waiter <- describe(err)
			return
		}
		waiter <- fmt.Sprintf("acquired at %d", w.Header.Revision)
	}()
	time.Sleep(300 * time.Millisecond)
	select {
	case w := <-waiter:
		out["waiter_before_revoke"] = w
	default:
		out["waiter_before_revoke"] = "waiting"
	}
	out["holder_rev"] = holder.Header.Revision
	revokedAt := time.Now()
	if _, err := cli.Revoke(ctx, l3.ID); err != nil {
		return nil, err
	}
	out["waiter_after_revoke"] = <-waiter
	out["waiter_served_within_2s"] = time.Since(revokedAt) < 2*time.Second
	if _, err := cli.Revoke(ctx, l4.ID); err != nil {
		return nil, err
	}
	u, err := lc.Unlock(ctx, &v3lockpb.UnlockRequest{Key: lk.Key})
	if err != nil {
		return nil, err
	}
	out["unlock_rev"] = u.Header.Revision
	u, err = lc.Unlock(ctx, &v3lockpb.UnlockRequest{Key: []byte("/svc-lock/none")})
	if err != nil {
		return nil, err
	}
	out["unlock_missing_rev"] = u.Header.Revision
	return out, nil
}
