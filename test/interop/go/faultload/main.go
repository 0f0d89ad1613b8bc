// Command faultload is the client side of the cluster fault tests (test/cluster/faults.test.ts).
//
// Mode "load" (until SIGTERM): --clients goroutines, each with its own clientv3.Client on every
// endpoint, alternate a Put of increasing values to one of their own keys and a linearizable Get of
// a key of another client, recording every operation with its wall-clock start and end (Unix µs)
// so the test can check real-time order. A write that fails is ambiguous (it may still commit
// later), so its key is retired: the client continues on a fresh key, and an ambiguous value is
// always the last and highest one of its key. Meanwhile a watcher on its own client watches the
// prefix from the revision after the first write, re-watching from its last revision + 1 whenever
// the stream ends or fails (as clientv3 does for a resumable stream); after SIGTERM it is given
// time to reach the cluster's revision. Writes --out as JSON.
//
// Mode "dump": for each endpoint on its own (serializable, served by that member alone), every
// event from revision 1 to the member's current revision (by watch) and the current values under
// the prefix. Writes --out as JSON.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"go.etcd.io/etcd/clientv3"
	"go.uber.org/zap"
)

const (
	dialTimeout = 5 * time.Second
	// One operation's deadline: long enough to ride out an election, short enough to keep going.
	opTimeout = 3 * time.Second
	// After SIGTERM, how long the watcher may take to see the cluster's last revision.
	watchCatchUpTimeout = 20 * time.Second
	// How long a dump may take per member.
	dumpTimeout = 20 * time.Second
	// Pause between operations of one client, so a few clients do not saturate two shared cores.
	opPause = 5 * time.Millisecond
	// How often the load prints how many writes were acknowledged so far.
	progressInterval = 100 * time.Millisecond
)

var quietLog = zap.Config{
	Level:            zap.NewAtomicLevelAt(zap.FatalLevel),
	Encoding:         "json",
	EncoderConfig:    zap.NewProductionEncoderConfig(),
	OutputPaths:      []string{"stderr"},
	ErrorOutputPaths: []string{"stderr"},
}

// Op is one operation as the client saw it.
type Op struct {
	Client int    `json:"c"`
	Kind   string `json:"t"` // "w" write, "r" read
	Key    string `json:"k"`
	Value  int64  `json:"v"` // written value, or the value read (0: key absent)
	OK     bool   `json:"ok"`
	Start  int64  `json:"s"`             // Unix µs at invocation
	End    int64  `json:"e"`             // Unix µs at completion
	Rev    int64  `json:"rev,omitempty"` // a write's revision; a read's header revision
	Err    string `json:"err,omitempty"`
}

// Event is one watch event: revision, key, value, and whether it is a delete.
type Event struct {
	Rev    int64  `json:"rev"`
	Key    string `json:"k"`
	Value  string `json:"v"`
	Delete bool   `json:"del,omitempty"`
}

type WatchLog struct {
	From      int64    `json:"from"`
	Events    []Event  `json:"events"`
	Rewatches int      `json:"rewatches"`
	Errors    []string `json:"errors"`
	CaughtUp  bool     `json:"caught_up"`
	Target    int64    `json:"target"`
}

type LoadResult struct {
	Ops   []Op     `json:"ops"`
	Watch WatchLog `json:"watch"`
	// The watcher on --pin-watch alone (absent without the flag).
	Pinned *WatchLog `json:"pinned,omitempty"`
}

type MemberDump struct {
	Endpoint string            `json:"endpoint"`
	Revision int64             `json:"revision"`
	Events   []Event           `json:"events"`
	Values   map[string]string `json:"values"`
	Err      string            `json:"err,omitempty"`
}

func micros() int64 { return time.Now().UnixNano() / 1000 }

func newClient(endpoints []string) (*clientv3.Client, error) {
	return clientv3.New(clientv3.Config{
		Endpoints:            endpoints,
		DialTimeout:          dialTimeout,
		DialKeepAliveTime:    time.Second,
		DialKeepAliveTimeout: time.Second,
		LogConfig:            &quietLog,
	})
}

func main() {
	mode := flag.String("mode", "load", "load | dump")
	endpointsFlag := flag.String("endpoints", "http://127.0.0.1:2379", "client URLs")
	clients := flag.Int("clients", 4, "writing clients")
	keys := flag.Int("keys", 3, "keys per client")
	prefix := flag.String("prefix", "/f/", "key prefix")
	seed := flag.Int64("seed", 1, "random seed (which keys are read)")
	out := flag.String("out", "", "output file")
	pin := flag.String("pin-watch", "", "also watch through this one endpoint alone (the member a fault hits)")
	flag.Parse()
	endpoints := strings.Split(*endpointsFlag, ",")
	var result interface{}
	var err error
	switch *mode {
	case "load":
		result, err = runLoad(endpoints, *pin, *clients, *keys, *prefix, *seed)
	case "dump":
		result, err = runDump(endpoints, *prefix)
	default:
		err = fmt.Errorf("unknown mode %q", *mode)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "faultload: %v\n", err)
		os.Exit(2)
	}
	f, err := os.Create(*out)
	if err == nil {
		err = json.NewEncoder(f).Encode(result)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "faultload: write %s: %v\n", *out, err)
		os.Exit(2)
	}
	fmt.Println("faultload: done")
}

// keyBoard holds each client's current key names, so readers pick live keys of others.
type keyBoard struct {
	mu   sync.Mutex
	keys [][]string
}

func (b *keyBoard) set(c, slot int, key string) {
	b.mu.Lock()
	b.keys[c][slot] = key
	b.mu.Unlock()
}

func (b *keyBoard) pick(r *rand.Rand, notClient int) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	c := r.Intn(len(b.keys))
	if c == notClient && len(b.keys) > 1 {
		c = (c + 1) % len(b.keys)
	}
	return b.keys[c][r.Intn(len(b.keys[c]))]
}

func runLoad(endpoints []string, pin string, clients, keysPerClient int, prefix string, seed int64) (interface{}, error) {
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)

	board := &keyBoard{keys: make([][]string, clients)}
	for c := range board.keys {
		board.keys[c] = make([]string, keysPerClient)
		for k := range board.keys[c] {
			board.keys[c][k] = fmt.Sprintf("%s%d/%d.0", prefix, c, k)
		}
	}

	// The watchers start before any load write, from the next revision.
	wcli, err := newClient(endpoints)
	if err != nil {
		return nil, err
	}
	defer wcli.Close()
	first, err := wcli.Get(context.Background(), prefix+"start")
	if err != nil {
		return nil, fmt.Errorf("initial get: %v", err)
	}
	var target int64 // set when the load has stopped: the revision the watchers must reach
	var targetMu sync.Mutex
	getTarget := func() int64 {
		targetMu.Lock()
		defer targetMu.Unlock()
		return target
	}
	watchCtx, stopWatch := context.WithCancel(context.Background())
	defer stopWatch()
	var watchers sync.WaitGroup
	startWatcher := func(cli *clientv3.Client) *WatchLog {
		log := &WatchLog{From: first.Header.Revision + 1, Errors: []string{}, Events: []Event{}}
		watchers.Add(1)
		go func() {
			defer watchers.Done()
			runWatcher(watchCtx, cli, prefix, log, getTarget)
		}()
		return log
	}
	watch := startWatcher(wcli)
	var pinned *WatchLog
	if pin != "" {
		pcli, err := newClient([]string{pin})
		if err != nil {
			return nil, err
		}
		defer pcli.Close()
		pinned = startWatcher(pcli)
	}
	watchDone := make(chan struct{})
	go func() {
		watchers.Wait()
		close(watchDone)
	}()

	var ackedWrites int64
	loadCtx, stopLoad := context.WithCancel(context.Background())
	var mu sync.Mutex
	ops := []Op{}
	var wg sync.WaitGroup
	for c := 0; c < clients; c++ {
		cli, err := newClient(endpoints)
		if err != nil {
			stopLoad()
			return nil, err
		}
		defer cli.Close()
		wg.Add(1)
		go func(c int, cli *clientv3.Client) {
			defer wg.Done()
			r := rand.New(rand.NewSource(seed*1000 + int64(c)))
			gen := make([]int, keysPerClient)
			next := make([]int64, keysPerClient)
			for i := range next {
				next[i] = 1
			}
			record := func(op Op) {
				mu.Lock()
				ops = append(ops, op)
				mu.Unlock()
			}
			for n := 0; loadCtx.Err() == nil; n++ {
				if n%2 == 0 {
					slot := (n / 2) % keysPerClient
					key := fmt.Sprintf("%s%d/%d.%d", prefix, c, slot, gen[slot])
					op := Op{Client: c, Kind: "w", Key: key, Value: next[slot], Start: micros()}
					ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
					resp, err := cli.Put(ctx, key, strconv.FormatInt(op.Value, 10))
					cancel()
					op.End = micros()
					if err == nil {
						op.OK = true
						op.Rev = resp.Header.Revision
						next[slot]++
						atomic.AddInt64(&ackedWrites, 1)
					} else {
						// ambiguous: retire the key so this value stays its last
						op.Err = err.Error()
						gen[slot]++
						next[slot] = 1
						board.set(c, slot, fmt.Sprintf("%s%d/%d.%d", prefix, c, slot, gen[slot]))
					}
					record(op)
				} else {
					key := board.pick(r, c)
					op := Op{Client: c, Kind: "r", Key: key, Start: micros()}
					ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
					resp, err := cli.Get(ctx, key)
					cancel()
					op.End = micros()
					if err == nil {
						op.OK = true
						op.Rev = resp.Header.Revision
						if len(resp.Kvs) == 1 {
							v, perr := strconv.ParseInt(string(resp.Kvs[0].Value), 10, 64)
							if perr != nil {
								op.OK = false
								op.Err = "unparsable value " + string(resp.Kvs[0].Value)
							}
							op.Value = v
						}
					} else {
						op.Err = err.Error()
					}
					record(op)
				}
				time.Sleep(opPause)
			}
		}(c, cli)
	}

	// Progress for the test, which waits for writes to be acknowledged before and after a fault.
	go func() {
		tick := time.NewTicker(progressInterval)
		defer tick.Stop()
		for {
			select {
			case <-loadCtx.Done():
				return
			case <-tick.C:
				fmt.Printf("progress acked=%d\n", atomic.LoadInt64(&ackedWrites))
			}
		}
	}()

	<-stop
	stopLoad()
	wg.Wait()

	// The watcher must reach the revision the cluster is at now.
	ctx, cancel := context.WithTimeout(context.Background(), watchCatchUpTimeout)
	var last int64
	for ctx.Err() == nil {
		resp, err := wcli.Get(ctx, prefix+"end")
		if err == nil {
			last = resp.Header.Revision
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	targetMu.Lock()
	target = last
	targetMu.Unlock()
	select {
	case <-watchDone:
	case <-ctx.Done():
	}
	cancel()
	stopWatch()
	<-watchDone
	watch.Target = last
	if pinned != nil {
		pinned.Target = last
	}
	mu.Lock()
	defer mu.Unlock()
	return LoadResult{Ops: ops, Watch: *watch, Pinned: pinned}, nil
}

// runWatcher records every event from log.From on, re-watching from the last revision + 1 when a
// stream ends or fails, until ctx ends or it has seen target() (once target() is set).
func runWatcher(ctx context.Context, cli *clientv3.Client, prefix string, log *WatchLog, target func() int64) {
	next := log.From
	reached := func() bool {
		t := target()
		return t > 0 && next > t
	}
	for ctx.Err() == nil && !reached() {
		wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
		ch := cli.Watch(wctx, prefix, clientv3.WithPrefix(), clientv3.WithRev(next))
		tick := time.NewTicker(100 * time.Millisecond)
	stream:
		for {
			select {
			case resp, open := <-ch:
				if !open {
					break stream
				}
				if err := resp.Err(); err != nil {
					log.Errors = append(log.Errors, fmt.Sprintf("from %d: %v", next, err))
					break stream
				}
				for _, ev := range resp.Events {
					log.Events = append(log.Events, Event{Rev: ev.Kv.ModRevision, Key: string(ev.Kv.Key), Value: string(ev.Kv.Value), Delete: ev.Type == clientv3.EventTypeDelete})
					next = ev.Kv.ModRevision + 1
				}
			case <-tick.C:
			}
			if reached() {
				break stream
			}
		}
		tick.Stop()
		cancel()
		if ctx.Err() == nil && !reached() {
			log.Rewatches++
			time.Sleep(50 * time.Millisecond)
		}
	}
	if reached() {
		log.CaughtUp = true
	}
}

func runDump(endpoints []string, prefix string) (interface{}, error) {
	dumps := make([]MemberDump, len(endpoints))
	var wg sync.WaitGroup
	for i, ep := range endpoints {
		wg.Add(1)
		go func(i int, ep string) {
			defer wg.Done()
			dumps[i] = dumpMember(ep, prefix)
		}(i, ep)
	}
	wg.Wait()
	return dumps, nil
}

func dumpMember(endpoint, prefix string) MemberDump {
	d := MemberDump{Endpoint: endpoint, Events: []Event{}, Values: map[string]string{}}
	cli, err := newClient([]string{endpoint})
	if err != nil {
		d.Err = err.Error()
		return d
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), dumpTimeout)
	defer cancel()
	resp, err := cli.Get(ctx, prefix, clientv3.WithPrefix(), clientv3.WithSerializable())
	if err != nil {
		d.Err = "get: " + err.Error()
		return d
	}
	d.Revision = resp.Header.Revision
	for _, kv := range resp.Kvs {
		d.Values[string(kv.Key)] = string(kv.Value)
	}
	if d.Revision < 2 {
		return d
	}
	ch := cli.Watch(ctx, prefix, clientv3.WithPrefix(), clientv3.WithRev(1))
	for r := range ch {
		if err := r.Err(); err != nil {
			d.Err = "watch: " + err.Error()
			return d
		}
		for _, ev := range r.Events {
			d.Events = append(d.Events, Event{Rev: ev.Kv.ModRevision, Key: string(ev.Kv.Key), Value: string(ev.Kv.Value), Delete: ev.Type == clientv3.EventTypeDelete})
		}
		if n := len(d.Events); n > 0 && d.Events[n-1].Rev >= d.Revision {
			return d
		}
	}
	if ctx.Err() != nil {
		d.Err = fmt.Sprintf("watch: only %d events before the deadline", len(d.Events))
	}
	return d
}
