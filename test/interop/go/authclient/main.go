// Command authclient uses clientv3 (3.4) with a username and password: it puts and gets one key in
// the given key and one outside it, and prints one line per call: "<op> <key> ok" or
// "<op> <key> error <message>". clientv3 authenticates at dial and again when a token is refused.
//
// Usage: authclient --endpoints http://127.0.0.1:2379 --user alice --password apw --allowed /a/k --denied /b/k
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"
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

func report(op, key string, err error) {
	if err != nil {
		fmt.Printf("%s %s error %s\n", op, key, err.Error())
		return
	}
	fmt.Printf("%s %s ok\n", op, key)
}

func main() {
	endpoints := flag.String("endpoints", "http://127.0.0.1:2379", "comma-separated endpoints")
	user := flag.String("user", "", "user name")
	password := flag.String("password", "", "password")
	allowed := flag.String("allowed", "", "a key the user may read and write")
	denied := flag.String("denied", "", "a key the user may not touch")
	flag.Parse()
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   strings.Split(*endpoints, ","),
		DialTimeout: 10 * time.Second,
		Username:    *user,
		Password:    *password,
		LogConfig:   &quietLog,
	})
	if err != nil {
		fmt.Printf("dial error %s\n", err.Error())
		os.Exit(1)
	}
	defer cli.Close()
	for _, key := range []string{*allowed, *denied} {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, err := cli.Put(ctx, key, "from-go")
		cancel()
		report("put", key, err)
		ctx, cancel = context.WithTimeout(context.Background(), 10*time.Second)
		_, err = cli.Get(ctx, key)
		cancel()
		report("get", key, err)
	}
}
