// Command tlsclient drives a server with clientv3 (3.4) over TLS with a client certificate.
//
//	tlsclient check --endpoints https://127.0.0.1:2379 --cacert ca.pem --cert c.pem --key k.pem
//	    Put, Get and a Watch; prints one JSON line {"ok":true,...} or {"ok":false,"error":...}.
//	tlsclient bench --endpoints ... [--cacert ... --cert ... --key ...] --op put|get|range --clients 16 --total 20000
//	    Closed-loop Puts (or Gets of one key, or Gets of a 100-key prefix) from --clients goroutines on one connection;
//	    prints {"op":...,"ops":...,"errors":...,"seconds":...,"ops_per_s":...}.
//	    Without --cacert it dials plain http, so TLS and plaintext are measured the same way.
package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/etcd/clientv3"
	"go.etcd.io/etcd/pkg/transport"
	"go.uber.org/zap"
)

// callTimeout bounds each call; a refused handshake shows up as a call that runs out of it.
var callTimeout = 15 * time.Second

var quietLog = zap.Config{
	Level:            zap.NewAtomicLevelAt(zap.FatalLevel),
	Encoding:         "json",
	EncoderConfig:    zap.NewProductionEncoderConfig(),
	OutputPaths:      []string{"stderr"},
	ErrorOutputPaths: []string{"stderr"},
}

func printJSON(v interface{}) {
	b, _ := json.Marshal(v)
	fmt.Println(string(b))
}

func fail(err error) {
	printJSON(map[string]interface{}{"ok": false, "error": err.Error()})
	os.Exit(1)
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: tlsclient check|bench|put [flags]")
		os.Exit(2)
	}
	mode := os.Args[1]
	fs := flag.NewFlagSet(mode, flag.ExitOnError)
	endpoints := fs.String("endpoints", "https://127.0.0.1:2379", "comma-separated endpoints")
	cacert := fs.String("cacert", "", "trusted CA file (empty: plaintext)")
	cert := fs.String("cert", "", "client certificate file")
	key := fs.String("key", "", "client key file")
	op := fs.String("op", "put", "bench: put, get or range (a 100-key prefix)")
	putKey := fs.String("key-name", "go/tls", "put: the key to write")
	clients := fs.Int("clients", 16, "bench: concurrent request loops")
	total := fs.Int("total", 20000, "bench: requests in all")
	dialTimeout := fs.Duration("dial-timeout", 10*time.Second, "how long a connection may take")
	fs.DurationVar(&callTimeout, "call-timeout", callTimeout, "how long each call may take (a refused handshake waits this long)")
	fs.Parse(os.Args[2:])

	var tlsConfig *tls.Config
	if *cacert != "" {
		info := transport.TLSInfo{CertFile: *cert, KeyFile: *key, TrustedCAFile: *cacert}
		c, err := info.ClientConfig()
		if err != nil {
			fail(err)
		}
		tlsConfig = c
	}
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   strings.Split(*endpoints, ","),
		DialTimeout: *dialTimeout,
		TLS:         tlsConfig,
		LogConfig:   &quietLog,
	})
	if err != nil {
		fail(err)
	}
	defer cli.Close()
	switch mode {
	case "check":
		check(cli)
	case "bench":
		bench(cli, *op, *clients, *total)
	case "put":
		putOnce(cli, *putKey)
	default:
		fail(fmt.Errorf("unknown mode %q", mode))
	}
}

func check(cli *clientv3.Client) {
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	if _, err := cli.Put(ctx, "go/tls", "from-go"); err != nil {
		fail(err)
	}
	got, err := cli.Get(ctx, "go/tls")
	if err != nil {
		fail(err)
	}
	if len(got.Kvs) != 1 {
		fail(fmt.Errorf("get returned %d kvs", len(got.Kvs)))
	}
	wch := cli.Watch(ctx, "go/watched", clientv3.WithRev(got.Header.Revision+1))
	if _, err := cli.Put(ctx, "go/watched", "event"); err != nil {
		fail(err)
	}
	var watched string
	for resp := range wch {
		if err := resp.Err(); err != nil {
			fail(err)
		}
		if len(resp.Events) > 0 {
			watched = string(resp.Events[0].Kv.Value)
			break
		}
	}
	printJSON(map[string]interface{}{"ok": true, "get": string(got.Kvs[0].Value), "watch": watched})
}

// putOnce writes one key with no username or password: the certificate is the only identity, so
// with --client-cert-auth and auth enabled the server checks its Common Name's permissions.
func putOnce(cli *clientv3.Client, key string) {
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	if _, err := cli.Put(ctx, key, "from-go"); err != nil {
		fail(err)
	}
	printJSON(map[string]interface{}{"ok": true})
}

// rangeKeys is how many keys the range op's prefix holds.
const rangeKeys = 100

func bench(cli *clientv3.Client, op string, clients, total int) {
	value := strings.Repeat("v", 256)
	ctx := context.Background()
	if _, err := cli.Put(ctx, "bench/get", value); err != nil {
		fail(err)
	}
	if op == "range" {
		for i := 0; i < rangeKeys; i++ {
			if _, err := cli.Put(ctx, fmt.Sprintf("benchrange/%03d", i), value); err != nil {
				fail(err)
			}
		}
	}
	var next, errors int64
	var wg sync.WaitGroup
	start := time.Now()
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := atomic.AddInt64(&next, 1)
				if i > int64(total) {
					return
				}
				cctx, cancel := context.WithTimeout(ctx, callTimeout)
				var err error
				switch op {
				case "get":
					_, err = cli.Get(cctx, "bench/get")
				case "range":
					var got *clientv3.GetResponse
					got, err = cli.Get(cctx, "benchrange/", clientv3.WithPrefix())
					if err == nil && len(got.Kvs) != rangeKeys {
						err = fmt.Errorf("range returned %d keys", len(got.Kvs))
					}
				default:
					_, err = cli.Put(cctx, fmt.Sprintf("bench/%08d", i%10000), value)
				}
				cancel()
				if err != nil {
					atomic.AddInt64(&errors, 1)
				}
			}
		}()
	}
	wg.Wait()
	seconds := time.Since(start).Seconds()
	printJSON(map[string]interface{}{"op": op, "ops": total, "errors": errors, "seconds": seconds, "ops_per_s": float64(total) / seconds})
}
