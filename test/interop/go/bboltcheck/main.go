// Command bboltcheck checks bbolt files with the real go.etcd.io/bbolt library, so that the files
// Lattice writes are judged by bbolt itself and Lattice's reader is compared with bbolt's.
//
// Usage:
//
//	bboltcheck dump [--hash] FILE   run bbolt's consistency check, then print the canonical dump
//	bboltcheck stats FILE           check, then print per-bucket page statistics as JSON
//	bboltcheck write FILE SEED      write a random database (nested, inline, empty buckets,
//	                                values larger than a page, freed pages) with bbolt
//
// The canonical dump walks every bucket depth-first in key order, one line per item:
//
//	bucket PATH seq=N
//	value PATH KEYHEX LEN SHA256HEX
//
// PATH is the bucket names from the root, hex-encoded, joined by '/'. With --hash only
// "lines=N sha256=HEX" of the dump (each line ending in \n) is printed.
package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	"io"
	"math/rand"
	"os"
	"strconv"
	"strings"

	bolt "go.etcd.io/bbolt"
)

func main() {
	if len(os.Args) < 3 {
		fail("usage: bboltcheck dump [--hash] FILE | stats FILE | write FILE SEED")
	}
	var err error
	switch os.Args[1] {
	case "dump":
		if os.Args[2] == "--hash" && len(os.Args) == 4 {
			err = dump(os.Args[3], true)
		} else {
			err = dump(os.Args[2], false)
		}
	case "stats":
		err = stats(os.Args[2])
	case "write":
		if len(os.Args) != 4 {
			fail("usage: bboltcheck write FILE SEED")
		}
		seed, perr := strconv.ParseInt(os.Args[3], 10, 64)
		if perr != nil {
			fail(perr.Error())
		}
		err = write(os.Args[2], seed)
	default:
		fail("unknown command " + os.Args[1])
	}
	if err != nil {
		fail(err.Error())
	}
}

func fail(message string) {
	fmt.Fprintln(os.Stderr, "bboltcheck:", message)
	os.Exit(1)
}

func openChecked(path string) (*bolt.DB, error) {
	db, err := bolt.Open(path, 0400, &bolt.Options{ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("open: %v", err)
	}
	var problems []string
	err = db.View(func(tx *bolt.Tx) error {
		for e := range tx.Check() {
			problems = append(problems, e.Error())
		}
		return nil
	})
	if err == nil && len(problems) > 0 {
		err = fmt.Errorf("check found %d problems:\n%s", len(problems), strings.Join(problems, "\n"))
	}
	if err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

type dumper struct {
	out   io.Writer
	hash  hash.Hash
	lines int
}

func (d *dumper) line(format string, args ...interface{}) {
	text := fmt.Sprintf(format, args...) + "\n"
	d.lines++
	if d.hash != nil {
		d.hash.Write([]byte(text))
	} else {
		io.WriteString(d.out, text)
	}
}

func (d *dumper) bucket(b *bolt.Bucket, path string) error {
	return b.ForEach(func(k, v []byte) error {
		if v == nil {
			child := b.Bucket(k)
			if child == nil {
				return fmt.Errorf("%s: key %x has a nil value but is not a bucket", path, k)
			}
			childPath := join(path, k)
			d.line("bucket %s seq=%d", childPath, child.Sequence())
			return d.bucket(child, childPath)
		}
		sum := sha256.Sum256(v)
		d.line("value %s %x %d %x", path, k, len(v), sum)
		return nil
	})
}

func join(path string, name []byte) string {
	if path == "" {
		return hex.EncodeToString(name)
	}
	return path + "/" + hex.EncodeToString(name)
}

func dump(path string, hashOnly bool) error {
	db, err := openChecked(path)
	if err != nil {
		return err
	}
	defer db.Close()
	d := &dumper{out: os.Stdout}
	if hashOnly {
		d.hash = sha256.New()
	}
	err = db.View(func(tx *bolt.Tx) error {
		return tx.ForEach(func(name []byte, b *bolt.Bucket) error {
			p := join("", name)
			d.line("bucket %s seq=%d", p, b.Sequence())
			return d.bucket(b, p)
		})
	})
	if err != nil {
		return err
	}
	if hashOnly {
		fmt.Printf("lines=%d sha256=%x\n", d.lines, d.hash.Sum(nil))
	}
	return nil
}

type bucketStats struct {
	Depth          int `json:"depth"`
	BranchPages    int `json:"branchPages"`
	LeafPages      int `json:"leafPages"`
	BranchOverflow int `json:"branchOverflow"`
	LeafOverflow   int `json:"leafOverflow"`
	Keys           int `json:"keys"`
	Buckets        int `json:"buckets"`
	InlineBuckets  int `json:"inlineBuckets"`
}

func stats(path string) error {
	db, err := openChecked(path)
	if err != nil {
		return err
	}
	defer db.Close()
	result := map[string]interface{}{}
	err = db.View(func(tx *bolt.Tx) error {
		perBucket := map[string]bucketStats{}
		err := tx.ForEach(func(name []byte, b *bolt.Bucket) error {
			s := b.Stats()
			perBucket[string(name)] = bucketStats{
				Depth: s.Depth, BranchPages: s.BranchPageN, LeafPages: s.LeafPageN,
				BranchOverflow: s.BranchOverflowN, LeafOverflow: s.LeafOverflowN,
				Keys: s.KeyN, Buckets: s.BucketN, InlineBuckets: s.InlineBucketN,
			}
			return nil
		})
		result["buckets"] = perBucket
		result["pageSize"] = db.Info().PageSize
		result["size"] = tx.Size()
		return err
	})
	if err != nil {
		return err
	}
	return json.NewEncoder(os.Stdout).Encode(result)
}

// write makes a database that exercises every page shape bbolt produces.
func write(path string, seed int64) error {
	rng := rand.New(rand.NewSource(seed))
	db, err := bolt.Open(path, 0600, nil)
	if err != nil {
		return err
	}
	defer db.Close()
	randomBytes := func(n int) []byte {
		b := make([]byte, n)
		rng.Read(b)
		return b
	}
	err = db.Update(func(tx *bolt.Tx) error {
		many, err := tx.CreateBucket([]byte("many"))
		if err != nil {
			return err
		}
		for i := 0; i < 5000; i++ {
			key := []byte(fmt.Sprintf("k%06d-%x", rng.Intn(1000000), randomBytes(rng.Intn(8))))
			if err := many.Put(key, randomBytes(rng.Intn(200))); err != nil {
				return err
			}
		}
		large, err := tx.CreateBucket([]byte("large"))
		if err != nil {
			return err
		}
		for i, size := range []int{4000, 4096, 5000, 70000, 300000, 1 << 20} {
			if err := large.Put([]byte(fmt.Sprintf("big%d", i)), randomBytes(size)); err != nil {
				return err
			}
			if err := large.Put([]byte(fmt.Sprintf("small%d", i)), randomBytes(10)); err != nil {
				return err
			}
		}
		if _, err := tx.CreateBucket([]byte("empty")); err != nil {
			return err
		}
		small, err := tx.CreateBucket([]byte("small"))
		if err != nil {
			return err
		}
		for i := 0; i < 3; i++ {
			if err := small.Put([]byte{byte('a' + i)}, []byte{byte(i)}); err != nil {
				return err
			}
		}
		if _, err := small.NextSequence(); err != nil {
			return err
		}
		nested, err := tx.CreateBucket([]byte("nested"))
		if err != nil {
			return err
		}
		for i := 0; i < 4; i++ {
			child, err := nested.CreateBucket([]byte(fmt.Sprintf("child%d", i)))
			if err != nil {
				return err
			}
			for j := 0; j < i*300; j++ {
				if err := child.Put([]byte(fmt.Sprintf("c%05d", j)), randomBytes(rng.Intn(50))); err != nil {
					return err
				}
			}
			grandchild, err := child.CreateBucket([]byte("inner"))
			if err != nil {
				return err
			}
			if err := grandchild.Put([]byte("x"), []byte(fmt.Sprintf("depth3-%d", i))); err != nil {
				return err
			}
			if err := grandchild.SetSequence(uint64(1000 + i)); err != nil {
				return err
			}
			if err := nested.Put([]byte(fmt.Sprintf("value%d", i)), []byte("beside buckets")); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	// A second transaction deletes keys, leaving freed pages in the freelist.
	return db.Update(func(tx *bolt.Tx) error {
		many := tx.Bucket([]byte("many"))
		c := many.Cursor()
		i := 0
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			if i%3 == 0 {
				if err := c.Delete(); err != nil {
					return err
				}
			}
			i++
		}
		return tx.Bucket([]byte("large")).Delete([]byte("big4"))
	})
}
