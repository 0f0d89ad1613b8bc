// Command watchscript runs a JSON script of etcd Watch steps and prints one
// normalised JSON line per step, so that the outputs of two servers (real
// etcd and Lattice) can be compared line by line.
//
// Usage: watchscript --endpoints http://127.0.0.1:2379 --steps steps.json
//
// Wire-level steps drive raw gRPC Watch streams (pb.Watch/Watch), so every
// field of every WatchResponse is visible; client-level steps use clientv3's
// Watcher. Writes go through clientv3's KV API.
//
// Responses arrive asynchronously, so they are only ever read by an "expect"
// (wait for exactly N responses, with a deadline) or by "drain_all" (whatever
// arrives within a quiet period). Within one step the responses are sorted by
// watch_id, keeping arrival order for each id: etcd orders the responses of
// one watcher, but not those of different watchers (its notify loop walks a
// Go map) nor control responses against events.
//
// Output leaves out what is per-cluster (cluster_id, member_id, raft_term);
// values longer than maxShownValueBytes are shown as their length and a hash.
package main

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"flag"
	"fmt"
	"io/ioutil"
	"os"
	"sort"
	"strings"
	"time"

	"go.etcd.io/etcd/clientv3"
	pb "go.etcd.io/etcd/etcdserver/etcdserverpb"
	"go.etcd.io/etcd/mvcc/mvccpb"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/status"
)

const (
	stepTimeout   = 15 * time.Second
	dialTimeout   = 10 * time.Second
	maxCallBytes  = 64 * 1024 * 1024 // larger than any server limit, so the server decides
	streamBufLen  = 4096             // responses buffered per stream before the reader blocks
	defaultWaitMs = 3000             // how long an expect waits for its responses
	// Once expects have spent this long in total waiting for responses that never came, each
	// later expect waits only shortWaitMs: a server that answers little must not make the
	// script run for minutes (its output differs from etcd's anyway).
	missingBudget = 20 * time.Second
	shortWaitMs   = 250
	// Values longer than this are printed as "<len> bytes sha256:<prefix>".
	maxShownValueBytes = 64
)

// Op is one operation of a txn step (no compares: the txn always succeeds).
type Op struct {
	Op        string `json:"op"` // put delete
	Key       string `json:"key"`
	RangeEnd  string `json:"range_end,omitempty"`
	Prefix    bool   `json:"prefix,omitempty"`
	Value     string `json:"value,omitempty"`
	ValueSize int    `json:"value_size,omitempty"`
}

// Step is one scripted action; Op selects which fields apply.
//
//	KV:     put delete txn compact
//	wire:   open create cancel progress empty expect (on Stream)
//	client: cwatch cexpect cprogress ccancel (on Watch)
//	both:   drain_all
type Step struct {
	Name string `json:"name"`
	Op   string `json:"op"`

	// KV
	Key       string `json:"key"`
	RangeEnd  string `json:"range_end,omitempty"`
	Prefix    bool   `json:"prefix,omitempty"`
	FromKey   bool   `json:"from_key,omitempty"`
	Value     string `json:"value,omitempty"`
	ValueSize int    `json:"value_size,omitempty"` // value of this many 'x' bytes
	PrevKV    bool   `json:"prev_kv,omitempty"`
	Ops       []Op   `json:"ops,omitempty"` // txn
	Rev       int64  `json:"rev,omitempty"` // compact; cwatch start revision
	Physical  bool   `json:"physical,omitempty"`

	// wire: the raw stream a step acts on
	Stream         string   `json:"stream,omitempty"`
	WatchID        int64    `json:"watch_id,omitempty"`
	StartRevision  int64    `json:"start_revision,omitempty"`
	Filters        []string `json:"filters,omitempty"` // NOPUT NODELETE
	Fragment       bool     `json:"fragment,omitempty"`
	ProgressNotify bool     `json:"progress_notify,omitempty"`

	// client: the clientv3 watch a step acts on
	Watch         string `json:"watch,omitempty"`
	FilterPut     bool   `json:"filter_put,omitempty"`
	FilterDelete  bool   `json:"filter_delete,omitempty"`
	CreatedNotify bool   `json:"created_notify,omitempty"`
	RequireLeader bool   `json:"require_leader,omitempty"` // cwatch, cprogress: clientv3.WithRequireLeader(ctx)

	// Responses to read after the action: exactly Expect of them (waiting up to
	// WaitMs), then whatever else arrives within QuietMs.
	Expect  int `json:"expect,omitempty"`
	WaitMs  int `json:"wait_ms,omitempty"`
	QuietMs int `json:"quiet_ms,omitempty"`
}

// missedTotal is how long expects have waited in vain so far (see missingBudget).
var missedTotal time.Duration

// waitFor is how long an expect may wait: waitMs (default defaultWaitMs), or shortWaitMs once
// missingBudget is spent.
func waitFor(waitMs int) time.Duration {
	if waitMs <= 0 {
		waitMs = defaultWaitMs
	}
	if missedTotal >= missingBudget && waitMs > shortWaitMs {
		waitMs = shortWaitMs
	}
	return time.Duration(waitMs) * time.Millisecond
}

// item is what a stream reader hands over: a response, or the error that ended the stream.
type item struct {
	resp *pb.WatchResponse
	err  error
}

type rawStream struct {
	stream pb.Watch_WatchClient
	cancel context.CancelFunc
	items  chan item
	// failed is the error that ended the stream, once an expect has seen it.
	failed error
}

type clientWatch struct {
	ch     clientv3.WatchChan
	cancel context.CancelFunc
	closed bool
}

type runner struct {
	cli     *clientv3.Client
	streams map[string]*rawStream
	watches map[string]*clientWatch
}

// quietLog keeps clientv3's retry warnings off stderr; errors are reported per step.
var quietLog = zap.Config{
	Level:            zap.NewAtomicLevelAt(zap.ErrorLevel),
	Encoding:         "json",
	EncoderConfig:    zap.NewProductionEncoderConfig(),
	OutputPaths:      []string{"stderr"},
	ErrorOutputPaths: []string{"stderr"},
}

func main() {
	endpoints := flag.String("endpoints", "http://127.0.0.1:2379", "comma-separated client URLs")
	stepsFile := flag.String("steps", "", "JSON file with a list of steps")
	flag.Parse()
	if *stepsFile == "" {
		fatalf("--steps is required")
	}
	raw, err := ioutil.ReadFile(*stepsFile)
	if err != nil {
		fatalf("read steps: %v", err)
	}
	var steps []Step
	if err := json.Unmarshal(raw, &steps); err != nil {
		fatalf("parse steps: %v", err)
	}

	cli, err := clientv3.New(clientv3.Config{
		Endpoints:          strings.Split(*endpoints, ","),
		DialTimeout:        dialTimeout,
		DialOptions:        []grpc.DialOption{grpc.WithBlock()},
		MaxCallSendMsgSize: maxCallBytes,
		MaxCallRecvMsgSize: maxCallBytes,
		LogConfig:          &quietLog,
	})
	if err != nil {
		fatalf("connect %s: %v", *endpoints, err)
	}
	r := &runner{cli: cli, streams: map[string]*rawStream{}, watches: map[string]*clientWatch{}}
	defer r.closeAll()

	out := json.NewEncoder(os.Stdout)
	out.SetEscapeHTML(false)
	for i, s := range steps {
		res, err := r.run(s)
		line := map[string]interface{}{"step": i, "name": s.Name}
		if err != nil {
			line["error"] = describeError(err)
		} else {
			line["result"] = res
		}
		if err := out.Encode(line); err != nil {
			fatalf("write: %v", err)
		}
	}
}

func fatalf(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "watchscript: "+format+"\n", args...)
	os.Exit(2)
}

func describeError(err error) map[string]interface{} {
	st := status.Convert(err)
	return map[string]interface{}{"code": st.Code().String(), "message": st.Message()}
}

func (r *runner) closeAll() {
	for _, s := range r.streams {
		s.cancel()
	}
	for _, w := range r.watches {
		w.cancel()
	}
	r.cli.Close()
}

func (r *runner) run(s Step) (interface{}, error) {
	switch s.Op {
	case "put", "delete", "txn", "compact":
		ctx, cancel := context.WithTimeout(context.Background(), stepTimeout)
		defer cancel()
		return r.runKV(ctx, s)
	case "open":
		return r.open(s)
	case "create", "cancel", "progress", "empty":
		return r.send(s)
	case "expect":
		st, err := r.stream(s.Stream)
		if err != nil {
			return nil, err
		}
		return st.collect(s.Expect, s.WaitMs, s.QuietMs), nil
	case "cwatch":
		return r.clientWatch(s)
	case "cexpect":
		w, ok := r.watches[s.Watch]
		if !ok {
			return nil, fmt.Errorf("watchscript: no client watch %q", s.Watch)
		}
		return w.collect(s.Expect, s.WaitMs, s.QuietMs), nil
	case "cprogress":
		ctx, cancel := context.WithTimeout(r.watchContext(s.RequireLeader), stepTimeout)
		defer cancel()
		if err := r.cli.RequestProgress(ctx); err != nil {
			return nil, err
		}
		return map[string]interface{}{"requested": true}, nil
	case "ccancel":
		w, ok := r.watches[s.Watch]
		if !ok {
			return nil, fmt.Errorf("watchscript: no client watch %q", s.Watch)
		}
		w.cancel()
		return map[string]interface{}{"cancelled": true}, nil
	case "drain_all":
		return r.drainAll(s.QuietMs), nil
	}
	return nil, fmt.Errorf("watchscript: unknown op %q", s.Op)
}

// ---- KV ----

func value(v string, size int) string {
	if size > 0 {
		return strings.Repeat("x", size)
	}
	return v
}

func (r *runner) runKV(ctx context.Context, s Step) (interface{}, error) {
	switch s.Op {
	case "put":
		resp, err := r.cli.Put(ctx, s.Key, value(s.Value, s.ValueSize))
		if err != nil {
			return nil, err
		}
		return map[string]interface{}{"header_rev": resp.Header.Revision}, nil
	case "delete":
		resp, err := r.cli.Delete(ctx, s.Key, rangeOpts(s.RangeEnd, s.Prefix, s.FromKey)...)
		if err != nil {
			return nil, err
		}
		return map[string]interface{}{"header_rev": resp.Header.Revision, "deleted": resp.Deleted}, nil
	case "txn":
		ops := make([]clientv3.Op, 0, len(s.Ops))
		for _, o := range s.Ops {
			switch o.Op {
			case "put":
				ops = append(ops, clientv3.OpPut(o.Key, value(o.Value, o.ValueSize)))
			case "delete":
				ops = append(ops, clientv3.OpDelete(o.Key, rangeOpts(o.RangeEnd, o.Prefix, false)...))
			default:
				return nil, fmt.Errorf("watchscript: bad txn op %q", o.Op)
			}
		}
		resp, err := r.cli.Txn(ctx).Then(ops...).Commit()
		if err != nil {
			return nil, err
		}
		return map[string]interface{}{"header_rev": resp.Header.Revision, "succeeded": resp.Succeeded}, nil
	case "compact":
		var opts []clientv3.CompactOption
		if s.Physical {
			opts = append(opts, clientv3.WithCompactPhysical())
		}
		resp, err := r.cli.Compact(ctx, s.Rev, opts...)
		if err != nil {
			return nil, err
		}
		return map[string]interface{}{"header_rev": resp.Header.Revision}, nil
	}
	return nil, fmt.Errorf("watchscript: unknown KV op %q", s.Op)
}

func rangeOpts(rangeEnd string, prefix, fromKey bool) []clientv3.OpOption {
	switch {
	case prefix:
		return []clientv3.OpOption{clientv3.WithPrefix()}
	case fromKey:
		return []clientv3.OpOption{clientv3.WithFromKey()}
	case rangeEnd != "":
		return []clientv3.OpOption{clientv3.WithRange(rangeEnd)}
	}
	return nil
}

// ---- raw gRPC Watch streams ----

func (r *runner) stream(name string) (*rawStream, error) {
	st, ok := r.streams[name]
	if !ok {
		return nil, fmt.Errorf("watchscript: no stream %q", name)
	}
	return st, nil
}

// open starts a raw Watch stream on the client's connection (every stream shares it).
func (r *runner) open(s Step) (interface{}, error) {
	if _, ok := r.streams[s.Stream]; ok {
		return nil, fmt.Errorf("watchscript: stream %q already open", s.Stream)
	}
	ctx, cancel := context.WithCancel(context.Background())
	stream, err := pb.NewWatchClient(r.cli.ActiveConnection()).Watch(ctx,
		grpc.MaxCallRecvMsgSize(maxCallBytes), grpc.MaxCallSendMsgSize(maxCallBytes))
	if err != nil {
		cancel()
		return nil, err
	}
	st := &rawStream{stream: stream, cancel: cancel, items: make(chan item, streamBufLen)}
	go func() {
		for {
			resp, err := stream.Recv()
			if err != nil {
				st.items <- item{err: err}
				return
			}
			st.items <- item{resp: resp}
		}
	}()
	r.streams[s.Stream] = st
	return map[string]interface{}{"opened": true}, nil
}

func filterTypes(names []string) ([]pb.WatchCreateRequest_FilterType, error) {
	out := make([]pb.WatchCreateRequest_FilterType, 0, len(names))
	for _, n := range names {
		v, ok := pb.WatchCreateRequest_FilterType_value[n]
		if !ok {
			return nil, fmt.Errorf("watchscript: bad filter %q", n)
		}
		out = append(out, pb.WatchCreateRequest_FilterType(v))
	}
	return out, nil
}

// send writes one request on a stream, then reads Expect responses.
func (r *runner) send(s Step) (interface{}, error) {
	st, err := r.stream(s.Stream)
	if err != nil {
		return nil, err
	}
	var req *pb.WatchRequest
	switch s.Op {
	case "create":
		filters, err := filterTypes(s.Filters)
		if err != nil {
			return nil, err
		}
		req = &pb.WatchRequest{RequestUnion: &pb.WatchRequest_CreateRequest{CreateRequest: &pb.WatchCreateRequest{
			Key:            []byte(s.Key),
			RangeEnd:       []byte(s.RangeEnd),
			StartRevision:  s.StartRevision,
			ProgressNotify: s.ProgressNotify,
			Filters:        filters,
			PrevKv:         s.PrevKV,
			WatchId:        s.WatchID,
			Fragment:       s.Fragment,
		}}}
	case "cancel":
		req = &pb.WatchRequest{RequestUnion: &pb.WatchRequest_CancelRequest{CancelRequest: &pb.WatchCancelRequest{WatchId: s.WatchID}}}
	case "progress":
		req = &pb.WatchRequest{RequestUnion: &pb.WatchRequest_ProgressRequest{ProgressRequest: &pb.WatchProgressRequest{}}}
	case "empty":
		req = &pb.WatchRequest{}
	}
	if st.failed == nil {
		// A failed send means the stream ended; its reader reports the real status through collect.
		_ = st.stream.Send(req)
	}
	return st.collect(s.Expect, s.WaitMs, s.QuietMs), nil
}

// collect reads exactly n responses (up to waitMs), then whatever arrives within quietMs.
func (st *rawStream) collect(n, waitMs, quietMs int) interface{} {
	var got []*pb.WatchResponse
	result := map[string]interface{}{}
	started := time.Now()
	deadline := time.NewTimer(waitFor(waitMs))
	defer deadline.Stop()
	take := func(it item) bool {
		if it.err != nil {
			st.failed = it.err
			return false
		}
		got = append(got, it.resp)
		return true
	}
wait:
	for len(got) < n && st.failed == nil {
		select {
		case it := <-st.items:
			if !take(it) {
				break wait
			}
		case <-deadline.C:
			missedTotal += time.Since(started)
			break wait
		}
	}
	if quietMs > 0 && st.failed == nil {
		quiet := time.After(time.Duration(quietMs) * time.Millisecond)
	extra:
		for {
			select {
			case it := <-st.items:
				if !take(it) {
					break extra
				}
			case <-quiet:
				break extra
			}
		}
	}
	if len(got) < n {
		result["missing"] = n - len(got)
	}
	if st.failed != nil {
		result["stream_error"] = describeError(st.failed)
	}
	result["responses"] = wireResponses(got)
	return result
}

func wireResponses(list []*pb.WatchResponse) []interface{} {
	sort.SliceStable(list, func(i, j int) bool { return list[i].WatchId < list[j].WatchId })
	out := make([]interface{}, 0, len(list))
	for _, resp := range list {
		out = append(out, wireResponse(resp))
	}
	return out
}

func wireResponse(r *pb.WatchResponse) interface{} {
	m := map[string]interface{}{"header_rev": headerRev(r.Header), "watch_id": r.WatchId}
	if r.Created {
		m["created"] = true
	}
	if r.Canceled {
		m["canceled"] = true
	}
	if r.CancelReason != "" {
		m["cancel_reason"] = r.CancelReason
	}
	if r.CompactRevision != 0 {
		m["compact_revision"] = r.CompactRevision
	}
	if r.Fragment {
		m["fragment"] = true
	}
	m["events"] = events(r.Events)
	return m
}

// ---- clientv3 watches ----

// watchContext gives client watches and progress requests their stream: clientv3 shares one
// gRPC stream among watches whose contexts carry the same metadata.
func (r *runner) watchContext(requireLeader bool) context.Context {
	if requireLeader {
		return clientv3.WithRequireLeader(context.Background())
	}
	return context.Background()
}

func (r *runner) clientWatch(s Step) (interface{}, error) {
	if _, ok := r.watches[s.Watch]; ok {
		return nil, fmt.Errorf("watchscript: client watch %q already exists", s.Watch)
	}
	opts := rangeOpts(s.RangeEnd, s.Prefix, s.FromKey)
	if s.Rev != 0 {
		opts = append(opts, clientv3.WithRev(s.Rev))
	}
	if s.PrevKV {
		opts = append(opts, clientv3.WithPrevKV())
	}
	if s.FilterPut {
		opts = append(opts, clientv3.WithFilterPut())
	}
	if s.FilterDelete {
		opts = append(opts, clientv3.WithFilterDelete())
	}
	if s.ProgressNotify {
		opts = append(opts, clientv3.WithProgressNotify())
	}
	if s.Fragment {
		opts = append(opts, clientv3.WithFragment())
	}
	if s.CreatedNotify {
		opts = append(opts, clientv3.WithCreatedNotify())
	}
	ctx, cancel := context.WithCancel(r.watchContext(s.RequireLeader))
	w := &clientWatch{ch: r.cli.Watch(ctx, s.Key, opts...), cancel: cancel}
	r.watches[s.Watch] = w
	return w.collect(s.Expect, s.WaitMs, s.QuietMs), nil
}

func (w *clientWatch) collect(n, waitMs, quietMs int) interface{} {
	var got []interface{}
	started := time.Now()
	deadline := time.NewTimer(waitFor(waitMs))
	defer deadline.Stop()
	// A closed channel counts as one more response, {"closed": true}, and ends the wait.
	take := func(resp clientv3.WatchResponse, ok bool) bool {
		if !ok {
			w.closed = true
			got = append(got, map[string]interface{}{"closed": true})
			return false
		}
		got = append(got, clientResponse(resp))
		return true
	}
wait:
	for len(got) < n && !w.closed {
		select {
		case resp, ok := <-w.ch:
			if !take(resp, ok) {
				break wait
			}
		case <-deadline.C:
			missedTotal += time.Since(started)
			break wait
		}
	}
	if quietMs > 0 && !w.closed {
		quiet := time.After(time.Duration(quietMs) * time.Millisecond)
	extra:
		for {
			select {
			case resp, ok := <-w.ch:
				if !take(resp, ok) {
					break extra
				}
			case <-quiet:
				break extra
			}
		}
	}
	result := map[string]interface{}{}
	if len(got) < n {
		result["missing"] = n - len(got)
	}
	if got == nil {
		got = []interface{}{}
	}
	result["responses"] = got
	return result
}

func clientResponse(r clientv3.WatchResponse) interface{} {
	m := map[string]interface{}{"header_rev": r.Header.Revision}
	if r.Created {
		m["created"] = true
	}
	if r.Canceled {
		m["canceled"] = true
	}
	if r.CompactRevision != 0 {
		m["compact_revision"] = r.CompactRevision
	}
	if r.IsProgressNotify() {
		m["progress_notify"] = true
	}
	if err := r.Err(); err != nil {
		m["err"] = err.Error()
	}
	list := make([]*mvccpb.Event, 0, len(r.Events))
	for _, e := range r.Events {
		list = append(list, (*mvccpb.Event)(e))
	}
	m["events"] = events(list)
	return m
}

// drainAll waits quietMs once and reports whatever arrived meanwhile on every stream and client watch.
func (r *runner) drainAll(quietMs int) interface{} {
	time.Sleep(time.Duration(quietMs) * time.Millisecond)
	leftovers := map[string]interface{}{}
	for name, st := range r.streams {
		var got []*pb.WatchResponse
	streamItems:
		for {
			select {
			case it := <-st.items:
				if it.err != nil {
					if st.failed == nil {
						st.failed = it.err
						leftovers["stream "+name+" error"] = describeError(it.err)
					}
					break streamItems
				}
				got = append(got, it.resp)
			default:
				break streamItems
			}
		}
		if len(got) > 0 {
			leftovers["stream "+name] = wireResponses(got)
		}
	}
	for name, w := range r.watches {
		var got []interface{}
	watchItems:
		for !w.closed {
			select {
			case resp, ok := <-w.ch:
				if !ok {
					w.closed = true
					got = append(got, map[string]interface{}{"closed": true})
					break watchItems
				}
				got = append(got, clientResponse(resp))
			default:
				break watchItems
			}
		}
		if len(got) > 0 {
			leftovers["watch "+name] = got
		}
	}
	return map[string]interface{}{"leftovers": leftovers}
}

// ---- normalisation ----

func headerRev(h *pb.ResponseHeader) interface{} {
	if h == nil {
		return nil
	}
	return h.Revision
}

func shownValue(v []byte) string {
	if len(v) <= maxShownValueBytes {
		return string(v)
	}
	sum := sha256.Sum256(v)
	return fmt.Sprintf("<%d bytes sha256:%x>", len(v), sum[:6])
}

func kv(k *mvccpb.KeyValue) interface{} {
	if k == nil {
		return nil
	}
	return map[string]interface{}{
		"key":             string(k.Key),
		"value":           shownValue(k.Value),
		"create_revision": k.CreateRevision,
		"mod_revision":    k.ModRevision,
		"version":         k.Version,
		"lease":           fmt.Sprint(k.Lease),
	}
}

func events(list []*mvccpb.Event) []interface{} {
	out := make([]interface{}, 0, len(list))
	for _, e := range list {
		ev := map[string]interface{}{"type": e.Type.String(), "kv": kv(e.Kv)}
		if e.PrevKv != nil {
			ev["prev_kv"] = kv(e.PrevKv)
		}
		out = append(out, ev)
	}
	return out
}
