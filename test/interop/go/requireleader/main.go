// Command requireleader opens a clientv3 (3.4) watch with clientv3.WithRequireLeader on one
// endpoint and reports, one JSON line each, when the watch is created and how it ends: the error of
// the last response (the server cancels such a watch with "etcdserver: no leader" once the member
// has lost its leader) and the milliseconds since it was created.
//
// Usage: requireleader --endpoint http://127.0.0.1:2379 --key /k --wait 30s
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"time"

	"go.etcd.io/etcd/clientv3"
	"go.uber.org/zap"
)

var quietLog = zap.Config{
	Level:            zap.NewAtomicLevelAt(zap.FatalLevel),
	Encoding:         "json",
	EncoderConfig:    zap.NewProductionEncoderConfig(),
	OutputPaths:      []string{"stderr"},
	ErrorOutputPaths: []string{"stderr"},
}

// Event is one line of output.
type Event struct {
	Event string  `json:"event"`
	Error string  `json:"error,omitempty"`
	Ms    float64 `json:"ms"`
}

func emit(e Event) {
	line, _ := json.Marshal(e)
	fmt.Println(string(line))
}

func main() {
	endpoint := flag.String("endpoint", "http://127.0.0.1:2379", "one client URL")
	key := flag.String("key", "/requireleader", "key to watch")
	wait := flag.Duration("wait", 30*time.Second, "give up after this long")
	flag.Parse()

	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{*endpoint}, DialTimeout: 10 * time.Second, LogConfig: &quietLog})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer cli.Close()

	ctx, cancel := context.WithTimeout(clientv3.WithRequireLeader(context.Background()), *wait)
	defer cancel()
	start := time.Now()
	since := func() float64 { return float64(time.Since(start).Microseconds()) / 1000 }
	for resp := range cli.Watch(ctx, *key, clientv3.WithCreatedNotify()) {
		if resp.Created {
			start = time.Now()
			emit(Event{Event: "created"})
			continue
		}
		if err := resp.Err(); err != nil {
			emit(Event{Event: "ended", Error: err.Error(), Ms: since()})
			return
		}
		emit(Event{Event: "events", Ms: since()})
	}
	emit(Event{Event: "closed", Error: fmt.Sprint(ctx.Err()), Ms: since()})
}
