// Command franz drives franz-go (kgo and kadm) against a Kafka-protocol broker for Odradek's
// interop tests. Each subcommand prints JSON on stdout (one object, or one object per line for
// the long-running ones) and exits non-zero only when it could not do its job at all.
//
//	franz produce --brokers B --topic T [--codec C] [--acks 0|1|all] [--partitioner default|manual]
//	      < {"records":[...]}        -> {"records":[{partition, offset, error}...]}
//	franz consume --brokers B --topic T [--partitions N]
//	                                 -> {"ends":{p:hw}, "records":[...]} (every partition to its high watermark)
//	franz load    --brokers B --topic T --partitions N [--rate R]
//	                                 -> one line per acknowledged record, then {"done":...}; stops on "stop" or EOF
//	franz group   --brokers B --topic T --group G --name M
//	                                 -> one line per event (assigned, revoked, records+commit); "leave" on stdin leaves
//	franz admin   --brokers B --topic T --group G
//	                                 -> {"steps":{...}}: kadm topics, partitions, configs, groups, offsets
//	franz txn     --brokers B --topic T --id X --partitions N
//	                                 -> {"steps":{...}}: commit, abort, fencing (txn.go)
//	franz ctp     --brokers B --topic IN --out OUT --group G --id X [--batch n] [--abort-every k]
//	                                 -> one line per transaction: GroupTransactSession consume-transform-produce
//	franz roundtrip --brokers B --topic T --group G --records N
//	                                 -> {"produced", "consumed", "committed", "error"}: produce, consume in a group, commit
//
// Every subcommand takes the security flags of secure.go (--tls-ca, --tls-cert, --tls-key,
// --sasl, --user, --password, --token).
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sort"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"odradek.test/gointerop/internal/wire"
)

// flags are the shared ones, and how to reach a secured listener (secure.go).
type flags struct {
	wire.Flags
	sec security
}

func main() {
	var f flags
	cmd := wire.Parse("franz", "F", "default (franz-go's, murmur2 for keys) or manual (each record's partition)", &f.Flags, f.sec.register)
	wire.Run(cmd, f, map[string]func(flags){
		"produce": produce, "consume": consume, "load": load, "group": group, "admin": admin, "txn": txn, "ctp": ctp,
		"roundtrip": roundtrip,
	})
}

func codec(name string) kgo.CompressionCodec {
	switch name {
	case "none":
		return kgo.NoCompression()
	case "gzip":
		return kgo.GzipCompression()
	case "snappy":
		return kgo.SnappyCompression()
	case "lz4":
		return kgo.Lz4Compression()
	case "zstd":
		return kgo.ZstdCompression()
	}
	wire.Fatal("unknown codec %q", name)
	panic("unreachable")
}

func acks(name string) kgo.Acks {
	switch name {
	case "0":
		return kgo.NoAck()
	case "1":
		return kgo.LeaderAck()
	case "all", "-1":
		return kgo.AllISRAcks()
	}
	wire.Fatal("unknown acks %q", name)
	panic("unreachable")
}

func newClient(f flags, opts ...kgo.Opt) *kgo.Client {
	base := []kgo.Opt{kgo.SeedBrokers(wire.Brokers(f.Brokers)...), kgo.ClientID("odradek-franz-" + os.Args[1])}
	base = append(base, f.sec.opts()...)
	cl, err := kgo.NewClient(append(base, opts...)...)
	if err != nil {
		wire.Fatal("kgo.NewClient: %v", err)
	}
	return cl
}

// errInfo is a Kafka error as its code and name (kerr), or the text of any other error.
func errInfo(err error) map[string]any {
	if err == nil {
		return nil
	}
	var ke *kerr.Error
	if errors.As(err, &ke) {
		return map[string]any{"code": ke.Code, "name": ke.Message, "text": err.Error()}
	}
	return map[string]any{"code": -1, "name": "", "text": err.Error()}
}

// produce sends the records of stdin in one ProduceSync and reports where each landed.
func produce(f flags) {
	in := wire.ReadInput()
	opts := []kgo.Opt{
		kgo.DefaultProduceTopic(f.Topic),
		kgo.ProducerBatchCompression(codec(f.Codec)),
		kgo.RequiredAcks(acks(f.Acks)),
		kgo.ProducerLinger(5 * time.Millisecond),
	}
	if f.Acks != "all" {
		opts = append(opts, kgo.DisableIdempotentWrite()) // idempotence needs acks=all
	}
	if f.Partitioner == "manual" {
		opts = append(opts, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	}
	cl := newClient(f, opts...)
	defer cl.Close()
	recs := make([]*kgo.Record, len(in.Records))
	for i, r := range in.Records {
		kr := &kgo.Record{Key: r.Key, Value: r.Value}
		for _, h := range r.Headers {
			kr.Headers = append(kr.Headers, kgo.RecordHeader{Key: h.Key, Value: h.Value})
		}
		if r.Partition != nil {
			kr.Partition = *r.Partition
		}
		if r.Timestamp != 0 {
			kr.Timestamp = time.UnixMilli(r.Timestamp)
		}
		recs[i] = kr
	}
	ctx, cancel := context.WithTimeout(context.Background(), wire.Deadline(f.Timeout))
	defer cancel()
	// ProduceSync lists results in the order they completed: put them back in input order.
	index := make(map[*kgo.Record]int, len(recs))
	for i, r := range recs {
		index[r] = i
	}
	out := make([]wire.Record, len(recs))
	for _, res := range cl.ProduceSync(ctx, recs...) {
		out[index[res.Record]] = wire.Record{Partition: wire.Int32(res.Record.Partition), Offset: res.Record.Offset, Error: wire.ErrText(res.Err)}
	}
	wire.Emit(map[string]any{"records": out})
}

// endOffsets is each partition's high watermark (ListOffsets latest), from kadm.
func endOffsets(ctx context.Context, cl *kgo.Client, topic string) (map[int32]int64, error) {
	adm := kadm.NewClient(cl)
	listed, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		return nil, err
	}
	if err := listed.Error(); err != nil {
		return nil, err
	}
	ends := map[int32]int64{}
	listed.Each(func(o kadm.ListedOffset) { ends[o.Partition] = o.Offset })
	return ends, nil
}

// readToEnd reads every partition of topic from its start to the high watermark it had when the
// read began.
func readToEnd(f flags) (map[int32]int64, []wire.Record, error) {
	ctx, cancel := context.WithTimeout(context.Background(), wire.Deadline(f.Timeout))
	defer cancel()
	admCl := newClient(f)
	ends, err := endOffsets(ctx, admCl, f.Topic)
	admCl.Close()
	if err != nil {
		return nil, nil, fmt.Errorf("end offsets: %w", err)
	}
	if f.Partitions > 0 && len(ends) != f.Partitions {
		return ends, nil, fmt.Errorf("expected %d partitions, listed %d", f.Partitions, len(ends))
	}
	parts := map[int32]kgo.Offset{}
	next := map[int32]int64{}
	for p, end := range ends {
		if end > 0 {
			parts[p] = kgo.NewOffset().AtStart()
			next[p] = 0
		}
	}
	var out []wire.Record
	if len(parts) == 0 {
		return ends, out, nil
	}
	// control records (transaction markers) kept, to count them as progress: a partition may
	// end in a marker, or (read_committed) in an aborted transaction and its marker
	opts := []kgo.Opt{kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{f.Topic: parts}), kgo.FetchMaxWait(200 * time.Millisecond),
		kgo.KeepControlRecords()}
	if f.Isolation == "committed" {
		opts = append(opts, kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	}
	cl := newClient(f, opts...)
	defer cl.Close()
	done := func() bool {
		for p, end := range ends {
			if end > 0 && next[p] < end {
				return false
			}
		}
		return true
	}
	for !done() {
		fetches := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return ends, out, fmt.Errorf("read positions %v of ends %v when the deadline passed", next, ends)
		}
		for _, fe := range fetches.Errors() {
			if !kerr.IsRetriable(fe.Err) {
				return ends, out, fmt.Errorf("fetch %s[%d]: %w", fe.Topic, fe.Partition, fe.Err)
			}
		}
		fetches.EachRecord(func(r *kgo.Record) {
			if r.Offset >= ends[r.Partition] {
				return // written after the read began
			}
			next[r.Partition] = r.Offset + 1
			if r.Attrs.IsControl() {
				return
			}
			out = append(out, fromKgo(r))
		})
	}
	sort.SliceStable(out, func(i, j int) bool {
		if *out[i].Partition != *out[j].Partition {
			return *out[i].Partition < *out[j].Partition
		}
		return out[i].Offset < out[j].Offset
	})
	return ends, out, nil
}

func fromKgo(r *kgo.Record) wire.Record {
	w := wire.ReadRecord(r.Key, r.Value, r.Partition, r.Offset, r.Timestamp)
	for _, h := range r.Headers {
		w.Headers = append(w.Headers, wire.Header{Key: h.Key, Value: h.Value})
	}
	return w
}

func consume(f flags) {
	ends, recs, err := readToEnd(f)
	wire.EmitRead(ends, recs, err)
}

// load produces numbered values round-robin over the partitions with acks=all (idempotent, the
// default) at a steady rate until "stop" or EOF on stdin, printing each acknowledgement.
func load(f flags) {
	if f.Partitions <= 0 {
		wire.Fatal("load needs --partitions")
	}
	cl := newClient(f,
		kgo.DefaultProduceTopic(f.Topic),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerLinger(2*time.Millisecond),
		kgo.MetadataMinAge(250*time.Millisecond),
		kgo.MetadataMaxAge(2*time.Second),
	)
	var tally wire.LoadTally
	sent := wire.Paced(f.Rate, f.Timeout, func(seq int) {
		r := &kgo.Record{Value: wire.Value(f.Prefix, seq), Partition: int32(seq % f.Partitions)}
		cl.Produce(context.Background(), r, func(r *kgo.Record, err error) {
			if err != nil {
				tally.Failed(err)
				return
			}
			tally.Acked(r.Partition, r.Offset, r.Value)
		})
	})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	flushErr := cl.Flush(ctx)
	cancel()
	tally.Done(sent, map[string]any{"flush_error": wire.ErrText(flushErr)})
	cl.Close()
}

// group is one member of a consumer group with the cooperative-sticky balancer. Offsets are
// committed synchronously after every poll, before the client may rebalance again
// (BlockRebalanceOnPoll), so a partition that moves resumes exactly where it was left.
func group(f flags) {
	emit := wire.MemberEvents(f.Name)
	parts := func(m map[string][]int32) []int32 {
		var ps []int32
		for _, p := range m[f.Topic] {
			ps = append(ps, p)
		}
		sort.Slice(ps, func(i, j int) bool { return ps[i] < ps[j] })
		return ps
	}
	cl := newClient(f,
		kgo.ConsumerGroup(f.Group),
		kgo.ConsumeTopics(f.Topic),
		kgo.Balancers(kgo.CooperativeStickyBalancer()),
		kgo.DisableAutoCommit(),
		kgo.BlockRebalanceOnPoll(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(200*time.Millisecond),
		kgo.SessionTimeout(10*time.Second),
		kgo.HeartbeatInterval(500*time.Millisecond),
		kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
			emit("assigned", map[string]any{"partitions": parts(m)})
		}),
		kgo.OnPartitionsRevoked(func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
			emit("revoked", map[string]any{"partitions": parts(m)})
		}),
		kgo.OnPartitionsLost(func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
			emit("lost", map[string]any{"partitions": parts(m)})
		}),
	)
	cmds := wire.Commands()
	deadline := time.Now().Add(wire.Deadline(f.Timeout))
	leaving := false
	for !leaving && time.Now().Before(deadline) {
		select {
		case c, ok := <-cmds:
			if !ok || c == "leave" {
				leaving = true
				continue
			}
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		fetches := cl.PollRecords(ctx, 1000)
		cancel()
		for _, fe := range fetches.Errors() {
			if !errors.Is(fe.Err, context.DeadlineExceeded) {
				emit("fetch_error", map[string]any{"partition": fe.Partition, "error": fe.Err.Error()})
			}
		}
		recs := fetches.Records()
		if len(recs) > 0 {
			cctx, ccancel := context.WithTimeout(context.Background(), 15*time.Second)
			err := cl.CommitRecords(cctx, recs...)
			ccancel()
			got := make([][]any, len(recs))
			for i, r := range recs {
				got[i] = []any{r.Partition, r.Offset, string(r.Value)}
			}
			emit("records", map[string]any{"records": got, "commit_error": wire.ErrText(err)})
		}
		cl.AllowRebalance()
	}
	emit("leaving", map[string]any{})
	cl.CloseAllowingRebalance()
	emit("left", map[string]any{})
}
