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
	"errors"
	"flag"
	"fmt"
	"os"
	"sort"
	"sync"
	"time"

	"github.com/IBM/sarama"

	"odradek.test/gointerop/internal/wire"
)

// flags: the shared ones, and sarama's own.
type flags struct {
	wire.Flags
	version    string
	idempotent bool
}

func main() {
	var f flags
	cmd := wire.Parse("sarama", "S", "default (sarama's hash partitioner) or manual", &f.Flags, func(fs *flag.FlagSet) {
		fs.StringVar(&f.version, "version", "max", "Kafka version sarama is configured for: default, max or e.g. 3.9.0")
		fs.BoolVar(&f.idempotent, "idempotent", false, "load: idempotent producer")
	})
	sarama.Logger = logger{}
	wire.Run(cmd, f, map[string]func(flags){
		"produce": produce, "consume": consume, "load": load, "group": group, "admin": admin, "txn": txn, "ctp": ctp,
	})
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
	cl, err := sarama.NewClient(wire.Brokers(f.Brokers), cfg)
	if err != nil {
		wire.Fatal("sarama.NewClient: %v", err)
	}
	return cl
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
	cfg.Producer.Compression = codec(f.Codec)
	cfg.Producer.RequiredAcks = acks(f.Acks)
	cfg.Producer.Return.Successes = true
	cfg.Producer.Flush.Frequency = 5 * time.Millisecond
	cfg.Producer.Timeout = wire.Deadline(f.Timeout)
	if f.Partitioner == "manual" {
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
		m := &sarama.ProducerMessage{Topic: f.Topic}
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
		out[i] = wire.Record{Partition: wire.Int32(m.Partition), Offset: m.Offset, Error: wire.ErrText(failed[m])}
	}
	wire.Emit(map[string]any{"records": out})
}

// readToEnd reads every partition of the topic from the start to the high watermark it had when
// the read began, with sarama's partition consumers.
func readToEnd(f flags) (map[int32]int64, []wire.Record, error) {
	cfg := config(f)
	if f.Isolation == "committed" {
		cfg.Consumer.IsolationLevel = sarama.ReadCommitted
	}
	cl := newClient(f, cfg)
	defer cl.Close()
	parts, err := cl.Partitions(f.Topic)
	if err != nil {
		return nil, nil, fmt.Errorf("partitions: %w", err)
	}
	if f.Partitions > 0 && len(parts) != f.Partitions {
		return nil, nil, fmt.Errorf("expected %d partitions, metadata has %d", f.Partitions, len(parts))
	}
	ends := map[int32]int64{}
	for _, p := range parts {
		end, err := cl.GetOffset(f.Topic, p, sarama.OffsetNewest)
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
	deadline := time.After(wire.Deadline(f.Timeout))
	var out []wire.Record
	for _, p := range parts {
		if ends[p] == 0 {
			continue
		}
		pc, err := consumer.ConsumePartition(f.Topic, p, sarama.OffsetOldest)
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
	w := wire.ReadRecord(m.Key, m.Value, m.Partition, m.Offset, m.Timestamp)
	for _, h := range m.Headers {
		w.Headers = append(w.Headers, wire.Header{Key: string(h.Key), Value: h.Value})
	}
	return w
}

func consume(f flags) {
	ends, recs, err := readToEnd(f)
	wire.EmitRead(ends, recs, err)
}

// load produces numbered values round-robin over the partitions with acks=all from an
// AsyncProducer at a steady rate until "stop" or EOF on stdin, printing each acknowledgement.
func load(f flags) {
	if f.Partitions <= 0 {
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
	var tally wire.LoadTally
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		for m := range p.Successes() {
			v, _ := m.Value.Encode()
			tally.Acked(m.Partition, m.Offset, v)
		}
	}()
	go func() {
		defer wg.Done()
		for e := range p.Errors() {
			tally.Failed(e.Err)
		}
	}()
	sent := wire.Paced(f.Rate, f.Timeout, func(seq int) {
		p.Input() <- &sarama.ProducerMessage{Topic: f.Topic, Partition: int32(seq % f.Partitions),
			Value: sarama.ByteEncoder(wire.Value(f.Prefix, seq))}
	})
	p.AsyncClose() // flushes what is buffered, then closes Successes and Errors
	wg.Wait()
	cl.Close()
	tally.Done(sent, nil)
}

// handler is a consumer group member's callbacks: it reports each session's claims and commits
// synchronously after each batch it reports, so partitions resume exactly after a rebalance.
type handler struct {
	f    flags
	emit func(string, map[string]any)
}

func (h handler) Setup(s sarama.ConsumerGroupSession) error {
	ps := append([]int32(nil), s.Claims()[h.f.Topic]...)
	sort.Slice(ps, func(i, j int) bool { return ps[i] < ps[j] })
	h.emit("assigned", map[string]any{"partitions": ps, "generation": s.GenerationID()})
	return nil
}

func (h handler) Cleanup(s sarama.ConsumerGroupSession) error {
	ps := append([]int32(nil), s.Claims()[h.f.Topic]...)
	sort.Slice(ps, func(i, j int) bool { return ps[i] < ps[j] })
	h.emit("revoked", map[string]any{"partitions": ps, "generation": s.GenerationID()})
	return nil
}

// nextBatch waits for the claim's next message, then takes what else is already there, up to most
// messages; nil when the claim or the session ended.
func nextBatch(s sarama.ConsumerGroupSession, c sarama.ConsumerGroupClaim, most int) []*sarama.ConsumerMessage {
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
	for len(batch) < most {
		select {
		case m, ok := <-c.Messages():
			if !ok {
				return batch
			}
			batch = append(batch, m)
		default:
			return batch
		}
	}
	return batch
}

func (h handler) ConsumeClaim(s sarama.ConsumerGroupSession, c sarama.ConsumerGroupClaim) error {
	for {
		batch := nextBatch(s, c, 500)
		if batch == nil {
			return nil
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

// groupConfig is a group member's config: from the oldest offset when the group has none, offsets
// committed only when the program says so, heartbeats every 500 ms, errors returned.
func groupConfig(f flags, session time.Duration) *sarama.Config {
	cfg := config(f)
	cfg.Consumer.Offsets.Initial = sarama.OffsetOldest
	cfg.Consumer.Offsets.AutoCommit.Enable = false
	cfg.Consumer.Group.Session.Timeout = session
	cfg.Consumer.Group.Heartbeat.Interval = 500 * time.Millisecond
	cfg.Consumer.Return.Errors = true
	return cfg
}

// newGroup is a consumer group of f.Group with cfg; emit reports its errors as "group_error".
func newGroup(f flags, cfg *sarama.Config, emit func(string, map[string]any)) sarama.ConsumerGroup {
	cg, err := sarama.NewConsumerGroup(wire.Brokers(f.Brokers), f.Group, cfg)
	if err != nil {
		wire.Fatal("NewConsumerGroup: %v", err)
	}
	go func() {
		for e := range cg.Errors() {
			emit("group_error", map[string]any{"error": e.Error()})
		}
	}()
	return cg
}

// group is one member of a consumer group with the range balance strategy; "leave" (or EOF) on
// stdin ends its session, commits and leaves the group.
func group(f flags) {
	emit := wire.MemberEvents(f.Name)
	cfg := groupConfig(f, 10*time.Second)
	cfg.Consumer.Group.Rebalance.GroupStrategies = []sarama.BalanceStrategy{sarama.NewBalanceStrategyRange()}
	cg := newGroup(f, cfg, emit)
	ctx, cancel := wire.Until("leave", f.Timeout)
	defer cancel()
	h := handler{f: f, emit: emit}
	for ctx.Err() == nil {
		if err := cg.Consume(ctx, []string{f.Topic}, h); err != nil && ctx.Err() == nil {
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
