// Command sarama drives IBM sarama against a Kafka-protocol broker for Odradek's interop tests,
// with the same subcommands and JSON as the franz program:
//
//	sarama produce --brokers B --topic T [--codec C] [--acks 0|1|all] [--partitioner default|manual]
//	sarama consume --brokers B --topic T [--partitions N]
//	sarama load    --brokers B --topic T --partitions N [--rate R]
//	sarama group   --brokers B --topic T --group G --name M      (range balance strategy)
//	sarama admin   --brokers B --topic T --group G               (ClusterAdmin)
//	sarama txn     --brokers B --topic T --id X --partitions N   (transactional producer, txn.go)
//	sarama ctp     --brokers B --topic IN --out OUT --group G --id X [--batch n] [--abort-every k]
//
// --version picks the Kafka version sarama is configured for ("default" is sarama's own default,
// "max" the newest it knows); sarama then also caps each request at what the broker advertises.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/IBM/sarama"

	"odradek.test/gointerop/internal/wire"
)

type flags struct {
	brokers     string
	topic       string
	codec       string
	acks        string
	partitioner string
	partitions  int
	group       string
	name        string
	rate        float64
	timeout     float64
	prefix      string
	version     string
	idempotent  bool
	isolation   string
	id          string
	out         string
	batch       int
	abortEvery  int
}

func main() {
	if len(os.Args) < 2 {
		wire.Fatal("usage: sarama produce|consume|load|group|admin|txn|ctp [flags]")
	}
	cmd := os.Args[1]
	var f flags
	fs := flag.NewFlagSet(cmd, flag.ExitOnError)
	fs.StringVar(&f.brokers, "brokers", "", "bootstrap servers, comma separated")
	fs.StringVar(&f.topic, "topic", "", "topic")
	fs.StringVar(&f.codec, "codec", "none", "none, gzip, snappy, lz4 or zstd")
	fs.StringVar(&f.acks, "acks", "all", "0, 1 or all")
	fs.StringVar(&f.partitioner, "partitioner", "default", "default (sarama's hash partitioner) or manual")
	fs.IntVar(&f.partitions, "partitions", 0, "number of partitions (load; consume: 0 = from metadata)")
	fs.StringVar(&f.group, "group", "", "consumer group")
	fs.StringVar(&f.name, "name", "", "member name printed in group events")
	fs.Float64Var(&f.rate, "rate", 400, "load: records per second")
	fs.Float64Var(&f.timeout, "timeout", 60, "seconds before giving up")
	fs.StringVar(&f.prefix, "prefix", "S", "load: value prefix")
	fs.StringVar(&f.version, "version", "max", "Kafka version sarama is configured for: default, max or e.g. 3.9.0")
	fs.BoolVar(&f.idempotent, "idempotent", false, "load: idempotent producer")
	fs.StringVar(&f.isolation, "isolation", "uncommitted", "consume: uncommitted or committed (read_committed)")
	fs.StringVar(&f.id, "id", "", "txn, ctp: transactional id")
	fs.StringVar(&f.out, "out", "", "ctp: output topic")
	fs.IntVar(&f.batch, "batch", 10, "ctp: most records per transaction")
	fs.IntVar(&f.abortEvery, "abort-every", 0, "ctp: abort every n-th transaction (0: never)")
	fs.Parse(os.Args[2:])
	sarama.Logger = logger{}
	switch cmd {
	case "produce":
		produce(f)
	case "consume":
		consume(f)
	case "load":
		load(f)
	case "group":
		group(f)
	case "admin":
		admin(f)
	case "txn":
		txn(f)
	case "ctp":
		ctp(f)
	default:
		wire.Fatal("unknown subcommand %q", cmd)
	}
}

// logger sends sarama's log to stderr (the test shows it when something fails).
type logger struct{}

func (logger) Print(v ...any)                 { fmt.Fprint(os.Stderr, v...) }
func (logger) Printf(format string, v ...any) { fmt.Fprintf(os.Stderr, format, v...) }
func (logger) Println(v ...any)               { fmt.Fprintln(os.Stderr, v...) }

func config(f flags) *sarama.Config {
	cfg := sarama.NewConfig()
	cfg.ClientID = "odradek-sarama-" + os.Args[1]
	switch f.version {
	case "default":
	case "max":
		cfg.Version = sarama.MaxVersion
	default:
		v, err := sarama.ParseKafkaVersion(f.version)
		if err != nil {
			wire.Fatal("--version: %v", err)
		}
		cfg.Version = v
	}
	cfg.Metadata.Retry.Backoff = 100 * time.Millisecond
	cfg.Producer.Retry.Backoff = 100 * time.Millisecond
	cfg.Consumer.Retry.Backoff = 100 * time.Millisecond
	cfg.Consumer.Fetch.Default = 1 << 20
	cfg.Consumer.MaxWaitTime = 200 * time.Millisecond
	return cfg
}

func newClient(f flags, cfg *sarama.Config) sarama.Client {
	cl, err := sarama.NewClient(wire.Brokers(f.brokers), cfg)
	if err != nil {
		wire.Fatal("sarama.NewClient: %v", err)
	}
	return cl
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// errInfo is a Kafka error as its code (sarama's KError) and text, or the text of any other error.
func errInfo(err error) map[string]any {
	if err == nil {
		return nil
	}
	var ke sarama.KError
	if errors.As(err, &ke) {
		if ke == sarama.ErrNoError {
			return nil
		}
		return map[string]any{"code": int16(ke), "text": err.Error()}
	}
	return map[string]any{"code": -1, "text": err.Error()}
}

func codec(name string) sarama.CompressionCodec {
	switch name {
	case "none":
		return sarama.CompressionNone
	case "gzip":
		return sarama.CompressionGZIP
	case "snappy":
		return sarama.CompressionSnappy
	case "lz4":
		return sarama.CompressionLZ4
	case "zstd":
		return sarama.CompressionZSTD
	}
	wire.Fatal("unknown codec %q", name)
	panic("unreachable")
}

func acks(name string) sarama.RequiredAcks {
	switch name {
	case "0":
		return sarama.NoResponse
	case "1":
		return sarama.WaitForLocal
	case "all", "-1":
		return sarama.WaitForAll
	}
	wire.Fatal("unknown acks %q", name)
	panic("unreachable")
}

// produce sends the records of stdin with a SyncProducer (one SendMessages call) and reports
// where each landed.
func produce(f flags) {
	in := wire.ReadInput()
	cfg := config(f)
	cfg.Producer.Compression = codec(f.codec)
	cfg.Producer.RequiredAcks = acks(f.acks)
	cfg.Producer.Return.Successes = true
	cfg.Producer.Flush.Frequency = 5 * time.Millisecond
	cfg.Producer.Timeout = wire.Deadline(f.timeout)
	if f.partitioner == "manual" {
		cfg.Producer.Partitioner = sarama.NewManualPartitioner
	}
	cl := newClient(f, cfg)
	defer cl.Close()
	p, err := sarama.NewSyncProducerFromClient(cl)
	if err != nil {
		wire.Fatal("NewSyncProducer: %v", err)
	}
	msgs := make([]*sarama.ProducerMessage, len(in.Records))
	for i, r := range in.Records {
		m := &sarama.ProducerMessage{Topic: f.topic}
		if r.Key != nil {
			m.Key = sarama.ByteEncoder(r.Key)
		}
		if r.Value != nil {
			m.Value = sarama.ByteEncoder(r.Value)
		}
		for _, h := range r.Headers {
			m.Headers = append(m.Headers, sarama.RecordHeader{Key: []byte(h.Key), Value: h.Value})
		}
		if r.Partition != nil {
			m.Partition = *r.Partition
		}
		if r.Timestamp != 0 {
			m.Timestamp = time.UnixMilli(r.Timestamp)
		}
		msgs[i] = m
	}
	failed := map[*sarama.ProducerMessage]error{}
	if err := p.SendMessages(msgs); err != nil {
		var pes sarama.ProducerErrors
		if errors.As(err, &pes) {
			for _, pe := range pes {
				failed[pe.Msg] = pe.Err
			}
		} else {
			wire.Fatal("SendMessages: %v", err)
		}
	}
	p.Close()
	out := make([]wire.Record, len(msgs))
	for i, m := range msgs {
		out[i] = wire.Record{Partition: wire.Int32(m.Partition), Offset: m.Offset, Error: errText(failed[m])}
	}
	wire.Emit(map[string]any{"records": out})
}

// readToEnd reads every partition of the topic from the start to the high watermark it had when
// the read began, with sarama's partition consumers.
func readToEnd(f flags) (map[int32]int64, []wire.Record, error) {
	cfg := config(f)
	if f.isolation == "committed" {
		cfg.Consumer.IsolationLevel = sarama.ReadCommitted
	}
	cl := newClient(f, cfg)
	defer cl.Close()
	parts, err := cl.Partitions(f.topic)
	if err != nil {
		return nil, nil, fmt.Errorf("partitions: %w", err)
	}
	if f.partitions > 0 && len(parts) != f.partitions {
		return nil, nil, fmt.Errorf("expected %d partitions, metadata has %d", f.partitions, len(parts))
	}
	ends := map[int32]int64{}
	for _, p := range parts {
		end, err := cl.GetOffset(f.topic, p, sarama.OffsetNewest)
		if err != nil {
			return ends, nil, fmt.Errorf("end offset of %d: %w", p, err)
		}
		ends[p] = end
	}
	consumer, err := sarama.NewConsumerFromClient(cl)
	if err != nil {
		return ends, nil, err
	}
	defer consumer.Close()
	deadline := time.After(wire.Deadline(f.timeout))
	var out []wire.Record
	for _, p := range parts {
		if ends[p] == 0 {
			continue
		}
		pc, err := consumer.ConsumePartition(f.topic, p, sarama.OffsetOldest)
		if err != nil {
			return ends, out, fmt.Errorf("consume %d: %w", p, err)
		}
		next := int64(0)
	read:
		for next < ends[p] {
			select {
			case m := <-pc.Messages():
				if m.Offset < ends[p] {
					out = append(out, fromSarama(m))
				}
				next = m.Offset + 1
			case e := <-pc.Errors():
				pc.Close()
				return ends, out, fmt.Errorf("partition %d: %w", p, e.Err)
			case <-deadline:
				pc.Close()
				return ends, out, fmt.Errorf("partition %d read to %d of %d when the deadline passed", p, next, ends[p])
			}
			if next >= ends[p] {
				break read
			}
		}
		pc.Close()
	}
	return ends, out, nil
}

func fromSarama(m *sarama.ConsumerMessage) wire.Record {
	w := wire.Record{Key: m.Key, Value: m.Value, Partition: wire.Int32(m.Partition), Offset: m.Offset, Timestamp: m.Timestamp.UnixMilli()}
	w.Headers = []wire.Header{}
	for _, h := range m.Headers {
		w.Headers = append(w.Headers, wire.Header{Key: string(h.Key), Value: h.Value})
	}
	return w
}

func consume(f flags) {
	ends, recs, err := readToEnd(f)
	endsOut := map[string]int64{}
	for p, e := range ends {
		endsOut[strconv.Itoa(int(p))] = e
	}
	wire.Emit(map[string]any{"ends": endsOut, "records": recs, "error": errText(err)})
}

// load produces numbered values round-robin over the partitions with acks=all from an
// AsyncProducer at a steady rate until "stop" or EOF on stdin, printing each acknowledgement.
func load(f flags) {
	if f.partitions <= 0 {
		wire.Fatal("load needs --partitions")
	}
	cfg := config(f)
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Return.Successes = true
	cfg.Producer.Return.Errors = true
	cfg.Producer.Partitioner = sarama.NewManualPartitioner
	cfg.Producer.Flush.Frequency = 2 * time.Millisecond
	cfg.Producer.Retry.Max = 1000
	cfg.Producer.Retry.Backoff = 200 * time.Millisecond
	cfg.Producer.Timeout = 10 * time.Second
	cfg.Metadata.RefreshFrequency = 2 * time.Second
	if f.idempotent {
		cfg.Producer.Idempotent = true
		cfg.Net.MaxOpenRequests = 1
	}
	cl := newClient(f, cfg)
	p, err := sarama.NewAsyncProducerFromClient(cl)
	if err != nil {
		wire.Fatal("NewAsyncProducer: %v", err)
	}
	var acked, failed atomic.Int64
	var samples sync.Map
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		for m := range p.Successes() {
			acked.Add(1)
			v, _ := m.Value.Encode()
			wire.Emit(map[string]any{"p": m.Partition, "o": m.Offset, "v": string(v)})
		}
	}()
	go func() {
		defer wg.Done()
		for e := range p.Errors() {
			failed.Add(1)
			samples.LoadOrStore(e.Err.Error(), true)
		}
	}()
	cmds := wire.Commands()
	tick := time.NewTicker(time.Duration(float64(time.Second) / f.rate))
	defer tick.Stop()
	deadline := time.After(wire.Deadline(f.timeout))
	seq := 0
loop:
	for {
		select {
		case c, ok := <-cmds:
			if !ok || c == "stop" {
				break loop
			}
		case <-deadline:
			break loop
		case <-tick.C:
			p.Input() <- &sarama.ProducerMessage{Topic: f.topic, Partition: int32(seq % f.partitions),
				Value: sarama.ByteEncoder(wire.Value(f.prefix, seq))}
			seq++
		}
	}
	p.AsyncClose() // flushes what is buffered, then closes Successes and Errors
	wg.Wait()
	cl.Close()
	var errs []string
	samples.Range(func(k, _ any) bool { errs = append(errs, k.(string)); return len(errs) < 10 })
	wire.Emit(map[string]any{"done": true, "sent": seq, "acked": acked.Load(), "failed": failed.Load(), "errors": errs})
}

// handler is a consumer group member's callbacks: it reports each session's claims and commits
// synchronously after each batch it reports, so partitions resume exactly after a rebalance.
type handler struct {
	f    flags
	emit func(string, map[string]any)
}

func (h handler) Setup(s sarama.ConsumerGroupSession) error {
	ps := append([]int32(nil), s.Claims()[h.f.topic]...)
	sort.Slice(ps, func(i, j int) bool { return ps[i] < ps[j] })
	h.emit("assigned", map[string]any{"partitions": ps, "generation": s.GenerationID()})
	return nil
}

func (h handler) Cleanup(s sarama.ConsumerGroupSession) error {
	ps := append([]int32(nil), s.Claims()[h.f.topic]...)
	sort.Slice(ps, func(i, j int) bool { return ps[i] < ps[j] })
	h.emit("revoked", map[string]any{"partitions": ps, "generation": s.GenerationID()})
	return nil
}

func (h handler) ConsumeClaim(s sarama.ConsumerGroupSession, c sarama.ConsumerGroupClaim) error {
	for {
		var batch []*sarama.ConsumerMessage
		select {
		case m, ok := <-c.Messages():
			if !ok {
				return nil
			}
			batch = append(batch, m)
		case <-s.Context().Done():
			return nil
		}
	drain:
		for len(batch) < 500 {
			select {
			case m, ok := <-c.Messages():
				if !ok {
					break drain
				}
				batch = append(batch, m)
			default:
				break drain
			}
		}
		for _, m := range batch {
			s.MarkMessage(m, "")
		}
		s.Commit()
		got := make([][]any, len(batch))
		for i, m := range batch {
			got[i] = []any{m.Partition, m.Offset, string(m.Value)}
		}
		h.emit("records", map[string]any{"records": got, "commit_error": ""})
	}
}

// group is one member of a consumer group with the range balance strategy; "leave" (or EOF) on
// stdin ends its session, commits and leaves the group.
func group(f flags) {
	emit := func(event string, fields map[string]any) {
		fields["event"] = event
		fields["member"] = f.name
		wire.Emit(fields)
	}
	cfg := config(f)
	cfg.Consumer.Group.Rebalance.GroupStrategies = []sarama.BalanceStrategy{sarama.NewBalanceStrategyRange()}
	cfg.Consumer.Offsets.Initial = sarama.OffsetOldest
	cfg.Consumer.Offsets.AutoCommit.Enable = false
	cfg.Consumer.Group.Session.Timeout = 10 * time.Second
	cfg.Consumer.Group.Heartbeat.Interval = 500 * time.Millisecond
	cfg.Consumer.Return.Errors = true
	cg, err := sarama.NewConsumerGroup(wire.Brokers(f.brokers), f.group, cfg)
	if err != nil {
		wire.Fatal("NewConsumerGroup: %v", err)
	}
	go func() {
		for e := range cg.Errors() {
			emit("group_error", map[string]any{"error": e.Error()})
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), wire.Deadline(f.timeout))
	go func() {
		for c := range wire.Commands() {
			if c == "leave" {
				break
			}
		}
		cancel()
	}()
	h := handler{f: f, emit: emit}
	for ctx.Err() == nil {
		if err := cg.Consume(ctx, []string{f.topic}, h); err != nil && ctx.Err() == nil {
			emit("consume_error", map[string]any{"error": err.Error()})
			time.Sleep(100 * time.Millisecond)
		}
	}
	emit("leaving", map[string]any{})
	if err := cg.Close(); err != nil {
		emit("close_error", map[string]any{"error": err.Error()})
	}
	emit("left", map[string]any{})
}
