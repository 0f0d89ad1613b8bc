// Command leaseput measures puts that attach keys to leases: --leases leases are granted, then
// --clients goroutines put --total keys, key i attached to lease i % leases (so keys move between
// leases as they are rewritten), then every lease is revoked (deleting all its keys at once). Prints
// one JSON line per phase with ops/s and, given --pid, the server's CPU seconds during the phase.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io/ioutil"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/etcd/clientv3"
	"go.uber.org/zap"
)

func cpuSeconds(pid int) float64 {
	if pid == 0 {
		return 0
	}
	raw, err := ioutil.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	fields := strings.Fields(string(raw[strings.LastIndex(string(raw), ")")+2:]))
	utime, _ := strconv.ParseFloat(fields[11], 64)
	stime, _ := strconv.ParseFloat(fields[12], 64)
	return (utime + stime) / 100
}

func main() {
	endpoints := flag.String("endpoints", "127.0.0.1:2379", "")
	leases := flag.Int("leases", 1000, "")
	clients := flag.Int("clients", 50, "")
	total := flag.Int("total", 50000, "")
	keys := flag.Int("keys", 10000, "distinct keys")
	pid := flag.Int("pid", 0, "server pid for CPU accounting")
	label := flag.String("label", "", "")
	flag.Parse()
	quiet := zap.NewProductionConfig()
	quiet.Level = zap.NewAtomicLevelAt(zap.ErrorLevel)
	cli, err := clientv3.New(clientv3.Config{Endpoints: strings.Split(*endpoints, ","), DialTimeout: 10 * time.Second, LogConfig: &quiet})
	if err != nil {
		panic(err)
	}
	defer cli.Close()
	ctx := context.Background()
	ids := make([]clientv3.LeaseID, *leases)
	for i := range ids {
		r, err := cli.Grant(ctx, 600)
		if err != nil {
			panic(err)
		}
		ids[i] = r.ID
	}
	phase := func(name string, n int, op func(i int) error) {
		var next int64 = -1
		var errs int64
		cpu := cpuSeconds(*pid)
		start := time.Now()
		var wg sync.WaitGroup
		for c := 0; c < *clients; c++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					i := int(atomic.AddInt64(&next, 1))
					if i >= n {
						return
					}
					if op(i) != nil {
						atomic.AddInt64(&errs, 1)
					}
				}
			}()
		}
		wg.Wait()
		secs := time.Since(start).Seconds()
		out := map[string]interface{}{"label": *label, "phase": name, "ops": n, "errors": errs, "ops_per_s": float64(n) / secs, "server_cpu_s_per_1k": (cpuSeconds(*pid) - cpu) / float64(n) * 1000}
		json.NewEncoder(os.Stdout).Encode(out)
	}
	phase("put-with-lease", *total, func(i int) error {
		_, err := cli.Put(ctx, fmt.Sprintf("lp/%06d", i%*keys), "v", clientv3.WithLease(ids[i%*leases]))
		return err
	})
	phase("revoke-with-keys", *leases, func(i int) error {
		_, err := cli.Revoke(ctx, ids[i])
		return err
	})
}
