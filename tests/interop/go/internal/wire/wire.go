// Package wire is what the franz and sarama test programs share: the JSON shapes they read on
// stdin and print on stdout, and small helpers for flags and stdin commands.
//
// Byte fields ([]byte) travel as base64 in JSON (encoding/json's rule); a nil slice is null, so a
// null key or value stays distinct from an empty one.
package wire

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"
)

// Header is one record header.
type Header struct {
	Key   string `json:"key"`
	Value []byte `json:"value"`
}

// Record is a record to produce (Partition nil: the client's partitioner picks) or one that was
// produced or read back (Partition, Offset and Timestamp set).
type Record struct {
	Key       []byte   `json:"key"`
	Value     []byte   `json:"value"`
	Headers   []Header `json:"headers"`
	Partition *int32   `json:"partition"`
	Offset    int64    `json:"offset"`
	Timestamp int64    `json:"timestamp"` // milliseconds; 0 on input: the client stamps it
	Error     string   `json:"error,omitempty"`
}

// Input is what produce reads on stdin.
type Input struct {
	Records []Record `json:"records"`
}

// ReadInput decodes stdin as an Input.
func ReadInput() Input {
	var in Input
	if err := json.NewDecoder(os.Stdin).Decode(&in); err != nil {
		Fatal("reading records from stdin: %v", err)
	}
	return in
}

var outMu sync.Mutex

// Emit prints v as one JSON line on stdout (safe from several goroutines).
func Emit(v any) {
	b, err := json.Marshal(v)
	if err != nil {
		Fatal("encoding output: %v", err)
	}
	outMu.Lock()
	defer outMu.Unlock()
	os.Stdout.Write(append(b, '\n'))
}

// Fatal prints a message on stderr and exits with status 2.
func Fatal(format string, args ...any) {
	fmt.Fprintf(os.Stderr, format+"\n", args...)
	os.Exit(2)
}

// Int32 returns a pointer to p.
func Int32(p int32) *int32 { return &p }

// Brokers splits a comma-separated bootstrap list.
func Brokers(s string) []string {
	var out []string
	for _, b := range strings.Split(s, ",") {
		if b = strings.TrimSpace(b); b != "" {
			out = append(out, b)
		}
	}
	if len(out) == 0 {
		Fatal("--brokers is required")
	}
	return out
}

// Commands delivers the lines written to stdin, one by one; the channel closes at EOF.
func Commands() <-chan string {
	ch := make(chan string, 16)
	go func() {
		defer close(ch)
		sc := bufio.NewScanner(os.Stdin)
		for sc.Scan() {
			ch <- strings.TrimSpace(sc.Text())
		}
	}()
	return ch
}

// Deadline is a duration in seconds from a flag.
func Deadline(seconds float64) time.Duration {
	return time.Duration(seconds * float64(time.Second))
}

// Values is a run of generated load values: a prefix and a sequence number.
func Value(prefix string, seq int) []byte {
	return []byte(fmt.Sprintf("%s%08d", prefix, seq))
}
