// Command memberapi drives clientv3's (3.4) Cluster API against a running cluster through all of
// its endpoints: Sync (endpoints from the member list), MemberList, MemberAddAsLearner, MemberPromote
// of a learner that never started, MemberUpdate, MemberRemove, and a write and a read afterwards.
// It prints one line per step, IDs and URLs replaced by names, so that the output of a Lattice
// cluster compares with etcd's line by line.
//
// Usage: memberapi --endpoints http://127.0.0.1:2379,http://127.0.0.1:2381 --learner-url http://127.0.0.1:1
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"go.etcd.io/etcd/clientv3"
	"go.uber.org/zap"
)

const (
	dialTimeout = 10 * time.Second
	callTimeout = 15 * time.Second
	// etcd refuses reconfiguration for HealthInterval (5 s) after its peers connected.
	healthRetryFor = 20 * time.Second
)

var quietLog = zap.Config{
	Level:            zap.NewAtomicLevelAt(zap.FatalLevel),
	Encoding:         "json",
	EncoderConfig:    zap.NewProductionEncoderConfig(),
	OutputPaths:      []string{"stderr"},
	ErrorOutputPaths: []string{"stderr"},
}

func errText(err error) string {
	if err == nil {
		return "ok"
	}
	return "error: " + err.Error()
}

func main() {
	endpoints := flag.String("endpoints", "", "comma-separated client URLs")
	learnerURL := flag.String("learner-url", "http://127.0.0.1:1", "peer URL of the learner to add (nothing runs there)")
	movedURL := flag.String("moved-url", "http://127.0.0.1:2", "peer URL the learner is updated to")
	flag.Parse()
	cli, err := clientv3.New(clientv3.Config{Endpoints: strings.Split(*endpoints, ","), DialTimeout: dialTimeout, LogConfig: &quietLog})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	defer cli.Close()
	call := func() (context.Context, context.CancelFunc) { return context.WithTimeout(context.Background(), callTimeout) }

	ctx, cancel := call()
	err = cli.Sync(ctx)
	cancel()
	eps := cli.Endpoints()
	sort.Strings(eps)
	fmt.Printf("sync: %s, %d endpoints, same as given: %v\n", errText(err), len(eps), strings.Join(eps, ",") == sortedList(*endpoints))

	// MemberList is served by whichever member the client picks, which may not have applied the
	// latest change yet: wait (bounded) until it lists `want` members.
	list := func(step string, want int) {
		ctx, cancel := call()
		defer cancel()
		resp, err := cli.MemberList(ctx)
		for err == nil && len(resp.Members) != want && ctx.Err() == nil {
			time.Sleep(100 * time.Millisecond)
			resp, err = cli.MemberList(ctx)
		}
		if err != nil {
			fmt.Printf("%s: %s\n", step, errText(err))
			return
		}
		var rows []string
		for _, m := range resp.Members {
			name := m.Name
			if name == "" {
				name = "(unstarted)"
			}
			rows = append(rows, fmt.Sprintf("%s learner=%v peers=%d clients=%d", name, m.IsLearner, len(m.PeerURLs), len(m.ClientURLs)))
		}
		sort.Strings(rows)
		fmt.Printf("%s: %s\n", step, strings.Join(rows, "; "))
	}
	ctx, cancel = call()
	before, err := cli.MemberList(ctx)
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	founders := len(before.Members)
	list("member list", founders)

	var learnerID uint64
	deadline := time.Now().Add(healthRetryFor)
	for {
		ctx, cancel := call()
		resp, err := cli.MemberAddAsLearner(ctx, []string{*learnerURL})
		cancel()
		if err != nil && strings.Contains(err.Error(), "unhealthy cluster") && time.Now().Before(deadline) {
			time.Sleep(500 * time.Millisecond)
			continue
		}
		if err == nil {
			learnerID = resp.Member.ID
			fmt.Printf("member add as learner: ok, learner=%v, members=%d\n", resp.Member.IsLearner, len(resp.Members))
		} else {
			fmt.Printf("member add as learner: %s\n", errText(err))
		}
		break
	}
	list("member list after add", founders+1)

	ctx, cancel = call()
	_, err = cli.MemberPromote(ctx, learnerID)
	cancel()
	fmt.Printf("member promote of the unstarted learner: %s\n", errText(err))

	ctx, cancel = call()
	_, err = cli.MemberPromote(ctx, 0x1234)
	cancel()
	fmt.Printf("member promote of an unknown ID: %s\n", errText(err))

	ctx, cancel = call()
	_, err = cli.MemberUpdate(ctx, learnerID, []string{*movedURL})
	cancel()
	fmt.Printf("member update of the learner: %s\n", errText(err))

	ctx, cancel = call()
	_, err = cli.MemberRemove(ctx, learnerID)
	cancel()
	fmt.Printf("member remove of the learner: %s\n", errText(err))

	ctx, cancel = call()
	_, err = cli.MemberRemove(ctx, learnerID)
	cancel()
	fmt.Printf("member remove again: %s\n", errText(err))
	list("member list after remove", founders)

	ctx, cancel = call()
	_, err = cli.Put(ctx, "/memberapi/after", "ok")
	cancel()
	fmt.Printf("put: %s\n", errText(err))
	ctx, cancel = call()
	got, err := cli.Get(ctx, "/memberapi/after")
	cancel()
	switch {
	case err != nil:
		fmt.Printf("get: %s\n", errText(err))
	case len(got.Kvs) != 1:
		fmt.Printf("get: %d keys\n", len(got.Kvs))
	default:
		fmt.Printf("get: %s\n", got.Kvs[0].Value)
	}
}

func sortedList(list string) string {
	items := strings.Split(list, ",")
	sort.Strings(items)
	return strings.Join(items, ",")
}
