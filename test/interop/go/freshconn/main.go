// Command freshconn makes one request per fresh clientv3 (3.4) client: dial, one Put (or Get),
// close. It prints one JSON line per call with the time from the start of the dial to the
// response, so that a first request right after the HTTP/2 handshake can be tested and timed.
//
// Usage: freshconn --endpoints http://127.0.0.1:2379 --op put --sizes 1024,70000 --repeat 10
//
// --sizes lists value sizes in bytes (put); the calls run in order, sizes cycled, repeat times.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"go.etcd.io/etcd/clientv3"
	"go.uber.org/zap"
)

const (
	dialTimeout     = 10 * time.Second
	callTimeout     = 15 * time.Second
	maxCallMsgBytes = 16 * 1024 * 1024 // larger than any server limit, so the server decides
)

var quietLog = zap.Config{
	Level:            zap.NewAtomicLevelAt(zap.FatalLevel),
	Encoding:         "json",
	EncoderConfig:    zap.NewProductionEncoderConfig(),
	OutputPaths:      []string{"stderr"},
	ErrorOutputPaths: []string{"stderr"},
}

// Result is one call: the value size, the time from dial to response, and the error if any.
type Result struct {
	Size  int     `json:"size"`
	Ms    float64 `json:"ms"`
	Error string  `json:"error,omitempty"`
}

func oneCall(endpoints []string, op, key string, value string) error {
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:          endpoints,
		DialTimeout:        dialTimeout,
		MaxCallSendMsgSize: maxCallMsgBytes,
		MaxCallRecvMsgSize: maxCallMsgBytes,
		LogConfig:          &quietLog,
	})
	if err != nil {
		return err
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	if op == "get" {
		_, err = cli.Get(ctx, key)
	} else {
		_, err = cli.Put(ctx, key, value)
	}
	return err
}

func main() {
	endpoints := flag.String("endpoints", "http://127.0.0.1:2379", "comma-separated client URLs")
	op := flag.String("op", "put", "put or get")
	key := flag.String("key", "freshconn", "the key written or read")
	sizes := flag.String("sizes", "1024", "comma-separated value sizes in bytes")
	repeat := flag.Int("repeat", 1, "how many times to go through the sizes")
	flag.Parse()

	var valueSizes []int
	for _, s := range strings.Split(*sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 0 {
			fmt.Fprintf(os.Stderr, "bad size %q\n", s)
			os.Exit(2)
		}
		valueSizes = append(valueSizes, n)
	}
	out := json.NewEncoder(os.Stdout)
	for i := 0; i < *repeat; i++ {
		for _, size := range valueSizes {
			value := strings.Repeat("v", size)
			start := time.Now()
			err := oneCall(strings.Split(*endpoints, ","), *op, *key, value)
			result := Result{Size: size, Ms: float64(time.Since(start).Microseconds()) / 1000}
			if err != nil {
				result.Error = err.Error()
			}
			if encodeErr := out.Encode(result); encodeErr != nil {
				os.Exit(1)
			}
		}
	}
}
