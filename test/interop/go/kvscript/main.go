// Command kvscript runs a JSON script of etcd KV steps with clientv3 (3.4)
// and prints one normalised JSON line per step, so that the outputs of two
// servers (real etcd and Lattice) can be compared line by line.
//
// Usage: kvscript --endpoints http://127.0.0.1:2379 --steps steps.json [--hex]
//
// With --hex, every key, range end and value in the steps (compares too) is
// hex-encoded, so that scripts can use arbitrary bytes, and keys and values are
// printed hex-encoded.
//
// Output fields are the ones a client can observe, minus anything that is
// per-cluster (cluster_id, member_id, raft_term). Errors carry the raw gRPC
// code and message seen on the wire and the error text clientv3 hands back.
package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io/ioutil"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"go.etcd.io/etcd/clientv3"
	pb "go.etcd.io/etcd/etcdserver/etcdserverpb"
	"go.etcd.io/etcd/mvcc/mvccpb"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/status"
)

const (
	stepTimeout     = 15 * time.Second
	dialTimeout     = 10 * time.Second
	maxCallMsgBytes = 16 * 1024 * 1024 // larger than any server limit, so the server decides
	// flowControlWindowBytes: larger than any answer a script asks for.
	flowControlWindowBytes = 16 * 1024 * 1024
)

// Compare is one txn compare.
type Compare struct {
	Key      string `json:"key"`
	RangeEnd string `json:"range_end,omitempty"`
	Prefix   bool   `json:"prefix,omitempty"`
	Target   string `json:"target"` // VALUE VERSION CREATE MOD LEASE
	Result   string `json:"result"` // = != > <
	Value    string `json:"value,omitempty"`
	Number   int64  `json:"number,omitempty"`
}

// Generate expands into Count put ops with keys Prefix+NNN (for size limits).
type Generate struct {
	Count  int    `json:"count"`
	Prefix string `json:"prefix"`
}

// Step is one scripted request; Op selects which fields apply.
type Step struct {
	Name string `json:"name"`
	Op   string `json:"op"` // put get delete txn compact lease_grant lease_revoke lease_ttl lease_keepalive lease_list

	Key       string `json:"key"`
	RangeEnd  string `json:"range_end,omitempty"`
	Prefix    bool   `json:"prefix,omitempty"`
	FromKey   bool   `json:"from_key,omitempty"`
	Value     string `json:"value,omitempty"`
	ValueSize int    `json:"value_size,omitempty"` // value of this many 'x' bytes

	PrevKV      bool  `json:"prev_kv,omitempty"`
	IgnoreValue bool  `json:"ignore_value,omitempty"`
	IgnoreLease bool  `json:"ignore_lease,omitempty"`
	Lease       int64 `json:"lease,omitempty"`

	Limit        int64  `json:"limit,omitempty"`
	Rev          int64  `json:"rev,omitempty"`
	SortTarget   string `json:"sort_target,omitempty"` // KEY VERSION CREATE MOD VALUE
	SortOrder    string `json:"sort_order,omitempty"`  // NONE ASCEND DESCEND
	Serializable bool   `json:"serializable,omitempty"`
	KeysOnly     bool   `json:"keys_only,omitempty"`
	CountOnly    bool   `json:"count_only,omitempty"`
	MinModRev    int64  `json:"min_mod_rev,omitempty"`
	MaxModRev    int64  `json:"max_mod_rev,omitempty"`
	MinCreateRev int64  `json:"min_create_rev,omitempty"`
	MaxCreateRev int64  `json:"max_create_rev,omitempty"`

	Compare []Compare `json:"compare,omitempty"`
	Success []Step    `json:"success,omitempty"`
	Failure []Step    `json:"failure,omitempty"`
	// SuccessGenerate appends generated puts to Success.
	SuccessGenerate *Generate `json:"success_generate,omitempty"`

	// Watch names a watcher for watch_open (Key, range options, Rev or RevBack, PrevKV),
	// watch_sync (waits for a put of Key with Value) and watch_collect (waits the same way,
	// then prints every event).
	Watch string `json:"watch,omitempty"`
	// RevBack: watch_open starts this many revisions before the current one (at least 1).
	RevBack *int64 `json:"rev_back,omitempty"`

	Physical bool  `json:"physical,omitempty"`
	ID       int64 `json:"id,omitempty"`  // lease id
	TTL      int64 `json:"ttl,omitempty"` // lease ttl seconds
	// LeaseKeys asks lease_ttl for the attached keys.
	LeaseKeys bool `json:"lease_keys,omitempty"`
}

// lastRPCErr is the raw status of the most recent failed unary RPC attempt,
// captured below clientv3's error translation so a wrong code is visible.
var lastRPCErr error

func recordErrors(ctx context.Context, method string, req, reply interface{}, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	err := invoker(ctx, method, req, reply, cc, opts...)
	if err != nil {
		lastRPCErr = err
	}
	return err
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
	flag.BoolVar(&hexMode, "hex", false, "keys, range ends and values are hex in the steps and in the output")
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
	if hexMode {
		for i := range steps {
			if err := decodeStep(&steps[i]); err != nil {
				fatalf("step %d: %v", i, err)
			}
		}
	}

	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   strings.Split(*endpoints, ","),
		DialTimeout: dialTimeout,
		// Fixed 16 MiB flow-control windows turn off grpc-go's BDP window resizing: with it, a large
		// answer now and then ended in "Internal: unexpected EOF" on the client, against etcd too.
		DialOptions: []grpc.DialOption{grpc.WithBlock(), grpc.WithChainUnaryInterceptor(recordErrors),
			grpc.WithInitialWindowSize(flowControlWindowBytes), grpc.WithInitialConnWindowSize(flowControlWindowBytes)},
		MaxCallSendMsgSize: maxCallMsgBytes,
		MaxCallRecvMsgSize: maxCallMsgBytes,
		LogConfig:          &quietLog,
	})
	if err != nil {
		fatalf("connect %s: %v", *endpoints, err)
	}
	defer cli.Close()

	out := json.NewEncoder(os.Stdout)
	out.SetEscapeHTML(false)
	for i, s := range steps {
		lastRPCErr = nil
		ctx, cancel := context.WithTimeout(context.Background(), stepTimeout)
		res, err := run(ctx, cli, s)
		cancel()
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
	fmt.Fprintf(os.Stderr, "kvscript: "+format+"\n", args...)
	os.Exit(2)
}

func describeError(err error) map[string]interface{} {
	wire := err
	if lastRPCErr != nil {
		wire = lastRPCErr
	}
	st := status.Convert(wire)
	return map[string]interface{}{
		"code":    st.Code().String(),
		"message": st.Message(),
		"client":  err.Error(),
	}
}

func run(ctx context.Context, cli *clientv3.Client, s Step) (interface{}, error) {
	switch s.Op {
	case "compact":
		var opts []clientv3.CompactOption
		if s.Physical {
			opts = append(opts, clientv3.WithCompactPhysical())
		}
		resp, err := cli.Compact(ctx, s.Rev, opts...)
		if err != nil {
			return nil, err
		}
		return map[string]interface{}{"header_rev": resp.Header.Revision}, nil
	case "watch_open":
		return openWatch(ctx, cli, s)
	case "watch_collect":
		return collectWatch(ctx, s)
	case "watch_sync":
		return syncWatch(ctx, s)
	case "lease_grant":
		// Raw RPC so the lease ID is chosen by the script, not by the server.
		resp, err := pb.NewLeaseClient(cli.ActiveConnection()).LeaseGrant(ctx, &pb.LeaseGrantRequest{ID: s.ID, TTL: s.TTL})
		if err != nil {
			return nil, err
		}
		if resp.Error != "" {
			return map[string]interface{}{"lease_error": resp.Error}, nil
		}
		return map[string]interface{}{"header_rev": resp.Header.Revision, "id": fmt.Sprint(resp.ID), "ttl": resp.TTL}, nil
	case "lease_revoke":
		resp, err := cli.Revoke(ctx, clientv3.LeaseID(s.ID))
		if err != nil {
			return nil, err
		}
		return map[string]interface{}{"header_rev": resp.Header.Revision}, nil
	case "lease_ttl":
		return leaseTTL(ctx, cli, s)
	case "lease_keepalive":
		return leaseKeepAlive(ctx, cli, s)
	case "lease_list":
		resp, err := pb.NewLeaseClient(cli.ActiveConnection()).LeaseLeases(ctx, &pb.LeaseLeasesRequest{})
		if err != nil {
			return nil, err
		}
		ids := make([]string, 0, len(resp.Leases))
		for _, l := range resp.Leases {
			ids = append(ids, fmt.Sprint(l.ID))
		}
		sort.Strings(ids)
		return map[string]interface{}{"header_rev": resp.Header.Revision, "ids": ids}, nil
	}
	op, err := toOp(s)
	if err != nil {
		return nil, err
	}
	resp, err := cli.Do(ctx, op)
	if err != nil {
		return nil, err
	}
	switch {
	case resp.Put() != nil:
		return putResp((*pb.PutResponse)(resp.Put())), nil
	case resp.Get() != nil:
		return rangeResp((*pb.RangeResponse)(resp.Get())), nil
	case resp.Del() != nil:
		return delResp((*pb.DeleteRangeResponse)(resp.Del())), nil
	case resp.Txn() != nil:
		return txnResp((*pb.TxnResponse)(resp.Txn())), nil
	}
	return nil, fmt.Errorf("kvscript: empty response for op %q", s.Op)
}

// rangeOpts are a step's range options: prefix, from key, or an explicit range end.
func rangeOpts(s Step) []clientv3.OpOption {
	switch {
	case s.Prefix:
		return []clientv3.OpOption{clientv3.WithPrefix()}
	case s.FromKey:
		return []clientv3.OpOption{clientv3.WithFromKey()}
	case s.RangeEnd != "":
		return []clientv3.OpOption{clientv3.WithRange(s.RangeEnd)}
	}
	return nil
}

func toOp(s Step) (clientv3.Op, error) {
	opts := rangeOpts(s)
	switch s.Op {
	case "put":
		if s.PrevKV {
			opts = append(opts, clientv3.WithPrevKV())
		}
		if s.IgnoreValue {
			opts = append(opts, clientv3.WithIgnoreValue())
		}
		if s.IgnoreLease {
			opts = append(opts, clientv3.WithIgnoreLease())
		}
		if s.Lease != 0 {
			opts = append(opts, clientv3.WithLease(clientv3.LeaseID(s.Lease)))
		}
		value := s.Value
		if s.ValueSize > 0 {
			value = strings.Repeat("x", s.ValueSize)
		}
		return clientv3.OpPut(s.Key, value, opts...), nil
	case "get":
		if s.Limit != 0 {
			opts = append(opts, clientv3.WithLimit(s.Limit))
		}
		if s.Rev != 0 {
			opts = append(opts, clientv3.WithRev(s.Rev))
		}
		if s.SortTarget != "" || s.SortOrder != "" {
			target, ok := pb.RangeRequest_SortTarget_value[strings.ToUpper(s.SortTarget)]
			if !ok {
				return clientv3.Op{}, fmt.Errorf("kvscript: bad sort_target %q", s.SortTarget)
			}
			order, ok := pb.RangeRequest_SortOrder_value[strings.ToUpper(s.SortOrder)]
			if !ok {
				return clientv3.Op{}, fmt.Errorf("kvscript: bad sort_order %q", s.SortOrder)
			}
			opts = append(opts, clientv3.WithSort(clientv3.SortTarget(target), clientv3.SortOrder(order)))
		}
		if s.Serializable {
			opts = append(opts, clientv3.WithSerializable())
		}
		if s.KeysOnly {
			opts = append(opts, clientv3.WithKeysOnly())
		}
		if s.CountOnly {
			opts = append(opts, clientv3.WithCountOnly())
		}
		if s.MinModRev != 0 {
			opts = append(opts, clientv3.WithMinModRev(s.MinModRev))
		}
		if s.MaxModRev != 0 {
			opts = append(opts, clientv3.WithMaxModRev(s.MaxModRev))
		}
		if s.MinCreateRev != 0 {
			opts = append(opts, clientv3.WithMinCreateRev(s.MinCreateRev))
		}
		if s.MaxCreateRev != 0 {
			opts = append(opts, clientv3.WithMaxCreateRev(s.MaxCreateRev))
		}
		return clientv3.OpGet(s.Key, opts...), nil
	case "delete":
		if s.PrevKV {
			opts = append(opts, clientv3.WithPrevKV())
		}
		return clientv3.OpDelete(s.Key, opts...), nil
	case "txn":
		cmps := make([]clientv3.Cmp, 0, len(s.Compare))
		for _, c := range s.Compare {
			cmp, err := toCmp(c)
			if err != nil {
				return clientv3.Op{}, err
			}
			cmps = append(cmps, cmp)
		}
		success, err := toOps(s.Success)
		if err != nil {
			return clientv3.Op{}, err
		}
		if g := s.SuccessGenerate; g != nil {
			for i := 0; i < g.Count; i++ {
				success = append(success, clientv3.OpPut(fmt.Sprintf("%s%03d", g.Prefix, i), "v"))
			}
		}
		failure, err := toOps(s.Failure)
		if err != nil {
			return clientv3.Op{}, err
		}
		return clientv3.OpTxn(cmps, success, failure), nil
	}
	return clientv3.Op{}, fmt.Errorf("kvscript: unknown op %q", s.Op)
}

func toOps(steps []Step) ([]clientv3.Op, error) {
	ops := make([]clientv3.Op, 0, len(steps))
	for _, s := range steps {
		op, err := toOp(s)
		if err != nil {
			return nil, err
		}
		ops = append(ops, op)
	}
	return ops, nil
}

func toCmp(c Compare) (clientv3.Cmp, error) {
	var cmp clientv3.Cmp
	var v interface{}
	switch c.Target {
	case "VALUE":
		cmp, v = clientv3.Value(c.Key), c.Value
	case "VERSION":
		cmp, v = clientv3.Version(c.Key), c.Number
	case "CREATE":
		cmp, v = clientv3.CreateRevision(c.Key), c.Number
	case "MOD":
		cmp, v = clientv3.ModRevision(c.Key), c.Number
	case "LEASE":
		cmp, v = clientv3.LeaseValue(c.Key), c.Number
	default:
		return clientv3.Cmp{}, fmt.Errorf("kvscript: bad compare target %q", c.Target)
	}
	switch c.Result {
	case "=", "!=", ">", "<":
	default:
		return clientv3.Cmp{}, fmt.Errorf("kvscript: bad compare result %q", c.Result)
	}
	cmp = clientv3.Compare(cmp, c.Result, v)
	if c.Prefix {
		cmp = cmp.WithPrefix()
	} else if c.RangeEnd != "" {
		cmp = cmp.WithRange(c.RangeEnd)
	}
	return cmp, nil
}

func headerRev(h *pb.ResponseHeader) interface{} {
	if h == nil {
		return nil
	}
	return h.Revision
}

func kv(k *mvccpb.KeyValue) interface{} {
	if k == nil {
		return nil
	}
	return map[string]interface{}{
		"key":             text(k.Key),
		"value":           text(k.Value),
		"create_revision": k.CreateRevision,
		"mod_revision":    k.ModRevision,
		"version":         k.Version,
		"lease":           fmt.Sprint(k.Lease), // int64 as a string, as etcd's JSON does
	}
}

func kvList(list []*mvccpb.KeyValue) []interface{} {
	out := make([]interface{}, 0, len(list))
	for _, k := range list {
		out = append(out, kv(k))
	}
	return out
}

func putResp(r *pb.PutResponse) interface{} {
	return map[string]interface{}{"put": map[string]interface{}{"header_rev": headerRev(r.Header), "prev_kv": kv(r.PrevKv)}}
}

func rangeResp(r *pb.RangeResponse) interface{} {
	return map[string]interface{}{"range": map[string]interface{}{
		"header_rev": headerRev(r.Header), "kvs": kvList(r.Kvs), "more": r.More, "count": r.Count,
	}}
}

func delResp(r *pb.DeleteRangeResponse) interface{} {
	return map[string]interface{}{"delete": map[string]interface{}{
		"header_rev": headerRev(r.Header), "deleted": r.Deleted, "prev_kvs": kvList(r.PrevKvs),
	}}
}

func txnResp(r *pb.TxnResponse) interface{} {
	responses := make([]interface{}, 0, len(r.Responses))
	for _, op := range r.Responses {
		switch {
		case op.GetResponsePut() != nil:
			responses = append(responses, putResp(op.GetResponsePut()))
		case op.GetResponseRange() != nil:
			responses = append(responses, rangeResp(op.GetResponseRange()))
		case op.GetResponseDeleteRange() != nil:
			responses = append(responses, delResp(op.GetResponseDeleteRange()))
		case op.GetResponseTxn() != nil:
			responses = append(responses, txnResp(op.GetResponseTxn()))
		default:
			responses = append(responses, map[string]interface{}{"empty": true})
		}
	}
	return map[string]interface{}{"txn": map[string]interface{}{
		"header_rev": headerRev(r.Header), "succeeded": r.Succeeded, "responses": responses,
	}}
}

// hexMode: keys and values are hex-encoded in the steps and in the output.
var hexMode bool

// longValueBytes: in hex mode, longer values are printed as their length and SHA-256, which
// compares as well and keeps output lines small.
const longValueBytes = 256

// text is how the output shows a key or value.
func text(b []byte) string {
	if !hexMode {
		return string(b)
	}
	if len(b) > longValueBytes {
		return fmt.Sprintf("%d bytes, sha256 %x", len(b), sha256.Sum256(b))
	}
	return hex.EncodeToString(b)
}

func unhex(s *string) error {
	b, err := hex.DecodeString(*s)
	if err != nil {
		return fmt.Errorf("not hex: %q", *s)
	}
	*s = string(b)
	return nil
}

// decodeStep turns a hex-encoded step (and its compares and branches) into raw bytes.
func decodeStep(s *Step) error {
	for _, f := range []*string{&s.Key, &s.RangeEnd, &s.Value} {
		if err := unhex(f); err != nil {
			return err
		}
	}
	for i := range s.Compare {
		c := &s.Compare[i]
		for _, f := range []*string{&c.Key, &c.RangeEnd, &c.Value} {
			if err := unhex(f); err != nil {
				return err
			}
		}
	}
	for _, branch := range [][]Step{s.Success, s.Failure} {
		for i := range branch {
			if err := decodeStep(&branch[i]); err != nil {
				return err
			}
		}
	}
	return nil
}

// watcher gathers the events of one watch opened by watch_open.
type watcher struct {
	mu         sync.Mutex
	events     []interface{}
	compactRev int64
	err        string
	closed     bool
	changed    chan struct{} // closed and replaced whenever something arrives
	cancel     context.CancelFunc
}

var watchers = map[string]*watcher{}

func openWatch(ctx context.Context, cli *clientv3.Client, s Step) (interface{}, error) {
	if _, dup := watchers[s.Watch]; dup {
		return nil, fmt.Errorf("kvscript: watcher %q opened twice", s.Watch)
	}
	opts := append(rangeOpts(s), clientv3.WithCreatedNotify())
	rev := s.Rev
	if s.RevBack != nil {
		// A start revision relative to the current one, so that a script never opens past its own writes.
		cur, err := cli.Get(ctx, "\x00", clientv3.WithCountOnly())
		if err != nil {
			return nil, err
		}
		rev = cur.Header.Revision - *s.RevBack
		if rev < 1 {
			rev = 1
		}
	}
	if rev != 0 {
		opts = append(opts, clientv3.WithRev(rev))
	}
	if s.PrevKV {
		opts = append(opts, clientv3.WithPrevKV())
	}
	// The watch outlives this step; it ends when the client closes or the creation times out.
	watchCtx, cancel := context.WithCancel(context.Background())
	ch := cli.Watch(watchCtx, s.Key, opts...)
	var first clientv3.WatchResponse
	select {
	case resp, ok := <-ch:
		if !ok {
			cancel()
			return nil, fmt.Errorf("kvscript: watch %q closed before it was created", s.Watch)
		}
		first = resp
	case <-ctx.Done():
		cancel()
		return nil, fmt.Errorf("kvscript: watch %q was not created in time", s.Watch)
	}
	w := &watcher{changed: make(chan struct{}), cancel: cancel}
	watchers[s.Watch] = w
	w.add(first)
	go func() {
		for resp := range ch {
			w.add(resp)
		}
		w.mu.Lock()
		w.closed = true
		w.signal()
		w.mu.Unlock()
	}()
	return map[string]interface{}{"watch": map[string]interface{}{
		"start_rev": rev, "created": first.Created, "header_rev": first.Header.Revision, "compact_revision": first.CompactRevision, "canceled": first.Canceled,
	}}, nil
}

func (w *watcher) add(resp clientv3.WatchResponse) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, ev := range resp.Events {
		w.events = append(w.events, map[string]interface{}{"type": ev.Type.String(), "kv": kv(ev.Kv), "prev_kv": kv(ev.PrevKv)})
	}
	if resp.CompactRevision != 0 {
		w.compactRev = resp.CompactRevision
	}
	if err := resp.Err(); err != nil {
		w.err = err.Error()
	}
	w.signal()
}

func (w *watcher) signal() {
	close(w.changed)
	w.changed = make(chan struct{})
}

// sawPut tells whether the events include a put of key with value; the caller holds mu.
func (w *watcher) sawPut(key, value string) bool {
	for _, e := range w.events {
		ev := e.(map[string]interface{})
		k, _ := ev["kv"].(map[string]interface{})
		if ev["type"] == "PUT" && k["key"] == text([]byte(key)) && k["value"] == text([]byte(value)) {
			return true
		}
	}
	return false
}

// waitForPut waits until the watcher has seen the put of key with value, has ended, or ctx is done;
// it tells whether the put was seen.
func (w *watcher) waitForPut(ctx context.Context, key, value string) bool {
	for {
		w.mu.Lock()
		seen := w.sawPut(key, value)
		done := seen || w.closed
		changed := w.changed
		w.mu.Unlock()
		if done {
			return seen
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return false
		}
	}
}

// collectWatch waits until the watcher has seen the put of s.Key with s.Value (or has ended, or the
// step timed out), then reports every event it received and whether the put was seen.
func collectWatch(ctx context.Context, s Step) (interface{}, error) {
	w, ok := watchers[s.Watch]
	if !ok {
		return nil, fmt.Errorf("kvscript: no watcher %q", s.Watch)
	}
	seen := w.waitForPut(ctx, s.Key, s.Value)
	w.mu.Lock()
	defer w.mu.Unlock()
	result := map[string]interface{}{"events": w.events, "compact_revision": w.compactRev, "err": w.err, "saw_put": seen, "ended": w.closed}
	return map[string]interface{}{"watch_events": result}, nil
}

// syncWatch waits until the watcher has seen the put of s.Key with s.Value: everything before it has
// then been sent to this client. etcd reads a watch event's prev_kv only when it sends the event, so a
// compaction must not overtake an event still on its way.
func syncWatch(ctx context.Context, s Step) (interface{}, error) {
	w, ok := watchers[s.Watch]
	if !ok {
		return nil, fmt.Errorf("kvscript: no watcher %q", s.Watch)
	}
	if !w.waitForPut(ctx, s.Key, s.Value) {
		return nil, fmt.Errorf("kvscript: watcher %q did not see the put of %q", s.Watch, text([]byte(s.Key)))
	}
	return map[string]interface{}{"watch_synced": true}, nil
}

// leaseTTL prints what does not depend on timing: a remaining TTL is reported
// as "live" when it is within 10 s of the granted TTL, else as the number.
func leaseTTL(ctx context.Context, cli *clientv3.Client, s Step) (interface{}, error) {
	resp, err := pb.NewLeaseClient(cli.ActiveConnection()).LeaseTimeToLive(ctx, &pb.LeaseTimeToLiveRequest{ID: s.ID, Keys: s.LeaseKeys})
	if err != nil {
		return nil, err
	}
	var ttl interface{} = resp.TTL
	if resp.TTL > 0 && resp.TTL <= resp.GrantedTTL && resp.TTL > resp.GrantedTTL-10 {
		ttl = "live"
	}
	keys := make([]string, 0, len(resp.Keys))
	for _, k := range resp.Keys {
		keys = append(keys, text(k))
	}
	sort.Strings(keys)
	return map[string]interface{}{"header_rev": resp.Header.Revision, "id": fmt.Sprint(resp.ID), "ttl": ttl, "granted_ttl": resp.GrantedTTL, "keys": keys}, nil
}

// leaseKeepAlive sends one keepalive on a raw stream per ID (Key lists more
// IDs, comma-separated, after ID) and prints each answer's ID and TTL.
func leaseKeepAlive(ctx context.Context, cli *clientv3.Client, s Step) (interface{}, error) {
	stream, err := pb.NewLeaseClient(cli.ActiveConnection()).LeaseKeepAlive(ctx)
	if err != nil {
		return nil, err
	}
	ids := []int64{s.ID}
	if s.Key != "" {
		for _, part := range strings.Split(s.Key, ",") {
			var id int64
			if _, err := fmt.Sscan(part, &id); err != nil {
				return nil, err
			}
			ids = append(ids, id)
		}
	}
	var answers []map[string]interface{}
	for _, id := range ids {
		if err := stream.Send(&pb.LeaseKeepAliveRequest{ID: id}); err != nil {
			return nil, err
		}
		resp, err := stream.Recv()
		if err != nil {
			return nil, err
		}
		answers = append(answers, map[string]interface{}{"header_rev": resp.Header.Revision, "id": fmt.Sprint(resp.ID), "ttl": resp.TTL})
	}
	if err := stream.CloseSend(); err != nil {
		return nil, err
	}
	return answers, nil
}
