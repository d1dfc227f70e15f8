// Package wire is what the franz and sarama test programs share: the JSON shapes they read on
// stdin and print on stdout, their command-line flags and subcommands, and small helpers for
// stdin commands, paced load and group events.
//
// Byte fields ([]byte) travel as base64 in JSON (encoding/json's rule); a nil slice is null, so a
// null key or value stays distinct from an empty one.
package wire

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Flags are the command-line flags both programs take; each subcommand reads the ones it needs.
type Flags struct {
	Brokers     string
	Topic       string
	Codec       string
	Acks        string
	Partitioner string
	Partitions  int
	Group       string
	Name        string
	Rate        float64
	Timeout     float64
	Prefix      string
	Isolation   string
	ID          string
	Out         string
	Batch       int
	AbortEvery  int
}

// Subcommands are what both programs do, in the order their usage line names them.
var Subcommands = []string{"produce", "consume", "load", "group", "admin", "txn", "ctp"}

// Parse reads os.Args of program prog: the subcommand, then its flags into f (the shared ones;
// own adds the program's). prefix is load's default value prefix; partitioner says what the
// default partitioner is.
func Parse(prog, prefix, partitioner string, f *Flags, own func(*flag.FlagSet)) string {
	if len(os.Args) < 2 {
		Fatal("usage: %s %s [flags]", prog, strings.Join(Subcommands, "|"))
	}
	cmd := os.Args[1]
	fs := flag.NewFlagSet(cmd, flag.ExitOnError)
	fs.StringVar(&f.Brokers, "brokers", "", "bootstrap servers, comma separated")
	fs.StringVar(&f.Topic, "topic", "", "topic")
	fs.StringVar(&f.Codec, "codec", "none", "none, gzip, snappy, lz4 or zstd")
	fs.StringVar(&f.Acks, "acks", "all", "0, 1 or all")
	fs.StringVar(&f.Partitioner, "partitioner", "default", partitioner)
	fs.IntVar(&f.Partitions, "partitions", 0, "number of partitions (load; consume: 0 = from metadata)")
	fs.StringVar(&f.Group, "group", "", "consumer group")
	fs.StringVar(&f.Name, "name", "", "member name printed in group events")
	fs.Float64Var(&f.Rate, "rate", 400, "load: records per second")
	fs.Float64Var(&f.Timeout, "timeout", 60, "seconds before giving up")
	fs.StringVar(&f.Prefix, "prefix", prefix, "load: value prefix")
	fs.StringVar(&f.Isolation, "isolation", "uncommitted", "consume: uncommitted or committed (read_committed)")
	fs.StringVar(&f.ID, "id", "", "txn, ctp: transactional id")
	fs.StringVar(&f.Out, "out", "", "ctp: output topic")
	fs.IntVar(&f.Batch, "batch", 10, "ctp: most records per transaction")
	fs.IntVar(&f.AbortEvery, "abort-every", 0, "ctp: abort every n-th transaction (0: never)")
	if own != nil {
		own(fs)
	}
	fs.Parse(os.Args[2:])
	return cmd
}

// Run calls the function of subcommand cmd with f, or fails if there is none.
func Run[F any](cmd string, f F, funcs map[string]func(F)) {
	fn, ok := funcs[cmd]
	if !ok {
		Fatal("unknown subcommand %q", cmd)
	}
	fn(f)
}

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

// ReadRecord is a record read back, with no headers yet (an empty list, not null: the client
// appends its own).
func ReadRecord(key, value []byte, partition int32, offset int64, ts time.Time) Record {
	return Record{Key: key, Value: value, Headers: []Header{}, Partition: Int32(partition), Offset: offset,
		Timestamp: ts.UnixMilli()}
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

// MemberEvents prints a group member's events: fields with the event's name and the member's.
func MemberEvents(member string) func(event string, fields map[string]any) {
	return func(event string, fields map[string]any) {
		fields["event"] = event
		fields["member"] = member
		Emit(fields)
	}
}

// Until is a context that ends when word (or EOF) comes on stdin, or after timeout seconds.
func Until(word string, timeout float64) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(context.Background(), Deadline(timeout))
	go func() {
		for c := range Commands() {
			if c == word {
				break
			}
		}
		cancel()
	}()
	return ctx, cancel
}

// Paced calls send with 0, 1, 2, ... at rate calls per second until "stop" or EOF on stdin, or
// until timeout seconds have passed; it returns how many calls it made.
func Paced(rate, timeout float64, send func(seq int)) int {
	cmds := Commands()
	tick := time.NewTicker(time.Duration(float64(time.Second) / rate))
	defer tick.Stop()
	deadline := time.After(Deadline(timeout))
	seq := 0
	for {
		select {
		case c, ok := <-cmds:
			if !ok || c == "stop" {
				return seq
			}
		case <-deadline:
			return seq
		case <-tick.C:
			send(seq)
			seq++
		}
	}
}

// LoadTally counts what a load run's producer had acknowledged and what failed (safe from the
// clients' callback goroutines), printing each acknowledgement as it comes and a summary at the end.
type LoadTally struct {
	acked, failed atomic.Int64
	samples       sync.Map // distinct error texts
}

// Acked counts and prints one acknowledged record.
func (t *LoadTally) Acked(partition int32, offset int64, value []byte) {
	t.acked.Add(1)
	Emit(map[string]any{"p": partition, "o": offset, "v": string(value)})
}

// Failed counts one record the producer gave up on.
func (t *LoadTally) Failed(err error) {
	t.failed.Add(1)
	t.samples.LoadOrStore(err.Error(), true)
}

// Done prints the summary: how many were sent, acked and failed, up to 10 distinct error texts,
// and the client's extra fields.
func (t *LoadTally) Done(sent int, extra map[string]any) {
	var errs []string
	t.samples.Range(func(k, _ any) bool { errs = append(errs, k.(string)); return len(errs) < 10 })
	out := map[string]any{"done": true, "sent": sent, "acked": t.acked.Load(), "failed": t.failed.Load(), "errors": errs}
	for k, v := range extra {
		out[k] = v
	}
	Emit(out)
}

// ErrText is err's message, "" for nil.
func ErrText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// EmitRead prints what consume read: each partition's end, the records, the error ("" for none).
func EmitRead(ends map[int32]int64, recs []Record, err error) {
	out := map[string]int64{}
	for p, e := range ends {
		out[strconv.Itoa(int(p))] = e
	}
	Emit(map[string]any{"ends": out, "records": recs, "error": ErrText(err)})
}

// Deadline is a duration in seconds from a flag.
func Deadline(seconds float64) time.Duration {
	return time.Duration(seconds * float64(time.Second))
}

// Values is a run of generated load values: a prefix and a sequence number.
func Value(prefix string, seq int) []byte {
	return []byte(fmt.Sprintf("%s%08d", prefix, seq))
}
