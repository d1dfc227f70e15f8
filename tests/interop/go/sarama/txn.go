package main

import (
	"errors"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/IBM/sarama"

	"odradek.test/gointerop/internal/wire"
)

// txnProducer is a transactional SyncProducer with transactional id --id (idempotent, acks all,
// one request in flight: what sarama requires); its constructor sends InitProducerId.
func txnProducer(f flags) (sarama.SyncProducer, error) {
	cfg := config(f)
	cfg.Producer.Idempotent = true
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Return.Successes = true
	cfg.Producer.Transaction.ID = f.ID
	cfg.Producer.Transaction.Timeout = 10 * time.Second
	cfg.Producer.Transaction.Retry.Backoff = 50 * time.Millisecond
	cfg.Net.MaxOpenRequests = 1
	cfg.Producer.Partitioner = sarama.NewManualPartitioner
	cfg.Producer.Flush.Frequency = 2 * time.Millisecond
	return sarama.NewSyncProducer(wire.Brokers(f.Brokers), cfg)
}

func txnStatus(p sarama.SyncProducer) string {
	s := p.TxnStatus()
	var names []string
	for flag, name := range map[sarama.ProducerTxnStatusFlag]string{
		sarama.ProducerTxnFlagReady: "ready", sarama.ProducerTxnFlagInTransaction: "in_transaction",
		sarama.ProducerTxnFlagFatalError: "fatal_error", sarama.ProducerTxnFlagAbortableError: "abortable_error",
	} {
		if s&flag != 0 {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	return fmt.Sprint(names)
}

// txn: the same scenario as franz's (c1 committed, a1 aborted, c2 committed; "z" fenced by a
// second producer, which commits "p2", the zombie's commit refused; "y" fenced by a third one,
// which commits "p3", the zombie's "yy" refused); also reports the zombies' transaction status.
func txn(f flags) {
	if f.ID == "" || f.Partitions <= 0 {
		wire.Fatal("txn needs --id and --partitions")
	}
	send := func(p sarama.SyncProducer, tag string) error {
		msgs := make([]*sarama.ProducerMessage, 10)
		for i := range msgs {
			msgs[i] = &sarama.ProducerMessage{Topic: f.Topic, Partition: int32(i % f.Partitions),
				Value: sarama.StringEncoder(fmt.Sprintf("%s-%02d", tag, i))}
		}
		err := p.SendMessages(msgs)
		var pes sarama.ProducerErrors
		if errors.As(err, &pes) && len(pes) > 0 {
			return pes[0].Err // the broker's error for the first record refused
		}
		return err
	}
	run := func(p sarama.SyncProducer, tag string, commit bool) map[string]any {
		if err := p.BeginTxn(); err != nil {
			return errInfo(fmt.Errorf("begin: %w", err))
		}
		if err := send(p, tag); err != nil {
			return errInfo(fmt.Errorf("produce: %w", err))
		}
		if commit {
			return errInfo(p.CommitTxn())
		}
		return errInfo(p.AbortTxn())
	}
	steps := map[string]any{}
	p1, err := txnProducer(f)
	if err != nil {
		wire.Fatal("NewSyncProducer: %v", err)
	}
	defer p1.Close()
	steps["c1"] = run(p1, "c1", true)
	steps["a1"] = run(p1, "a1", false)
	steps["c2"] = run(p1, "c2", true)
	begin := func(p sarama.SyncProducer, tag string) map[string]any {
		if err := p.BeginTxn(); err != nil {
			return errInfo(fmt.Errorf("begin: %w", err))
		}
		return errInfo(send(p, tag))
	}
	fence := func(tag string) sarama.SyncProducer {
		p, err := txnProducer(f)
		if err != nil {
			steps[tag] = errInfo(fmt.Errorf("init: %w", err))
			return nil
		}
		steps[tag] = run(p, tag, true)
		return p
	}
	// the zombie p1 commits: EndTxn with its old epoch
	steps["z"] = begin(p1, "z")
	p2 := fence("p2")
	if p2 == nil {
		wire.Emit(map[string]any{"steps": steps})
		return
	}
	defer p2.Close()
	steps["z_commit"] = errInfo(p1.CommitTxn())
	steps["z_status"] = txnStatus(p1)
	// the zombie p2 produces: records with its old epoch
	steps["y"] = begin(p2, "y")
	if p3 := fence("p3"); p3 != nil {
		defer p3.Close()
	}
	steps["yy"] = errInfo(send(p2, "yy"))
	steps["y_status"] = txnStatus(p2)
	wire.Emit(map[string]any{"steps": steps})
}

// ctpHandler transforms each claim's records in transactions of at most --batch records: the
// output ("out:" + value, same partition of --out) and the input offsets (TxnOffsetCommit with
// the session's generation and member id) commit together. A transaction aborted (every
// --abort-every-th, or on an error) ends the session: the next one reads again from the
// committed offsets.
type ctpHandler struct {
	f       flags
	p       sarama.SyncProducer
	mu      *sync.Mutex
	n       *int
	restart *atomic.Bool
}

func (h ctpHandler) Setup(s sarama.ConsumerGroupSession) error {
	h.restart.Store(false)
	wire.Emit(map[string]any{"event": "assigned", "partitions": s.Claims()[h.f.Topic], "generation": s.GenerationID()})
	return nil
}

func (h ctpHandler) Cleanup(sarama.ConsumerGroupSession) error { return nil }

func (h ctpHandler) ConsumeClaim(s sarama.ConsumerGroupSession, c sarama.ConsumerGroupClaim) error {
	for {
		batch := nextBatch(s, c, h.f.Batch)
		if batch == nil {
			return nil
		}
		h.mu.Lock()
		again := h.restart.Load() || s.Context().Err() != nil || h.transact(s, batch)
		h.mu.Unlock()
		if again {
			return nil // returning ends the session (sarama cancels it when a claim returns)
		}
	}
}

// transact runs one transaction; true when it was aborted (the session must end).
func (h ctpHandler) transact(s sarama.ConsumerGroupSession, batch []*sarama.ConsumerMessage) bool {
	*h.n++
	n := *h.n
	wantCommit := !(h.f.AbortEvery > 0 && n%h.f.AbortEvery == 0)
	got := make([][]any, len(batch))
	for i, m := range batch {
		got[i] = []any{m.Partition, m.Offset}
	}
	report := func(committed bool, err error) bool {
		wire.Emit(map[string]any{"event": "txn", "n": n, "wanted_commit": wantCommit, "committed": committed,
			"records": got, "error": errInfo(err)})
		if !committed {
			h.restart.Store(true)
		}
		return !committed
	}
	if err := h.p.BeginTxn(); err != nil {
		return report(false, fmt.Errorf("begin: %w", err))
	}
	msgs := make([]*sarama.ProducerMessage, len(batch))
	last := batch[len(batch)-1]
	for i, m := range batch {
		msgs[i] = &sarama.ProducerMessage{Topic: h.f.Out, Partition: m.Partition, Key: sarama.ByteEncoder(m.Key),
			Value: sarama.ByteEncoder(append([]byte("out:"), m.Value...))}
	}
	err := h.p.SendMessages(msgs)
	if err == nil {
		offsets := map[string][]*sarama.PartitionOffsetMetadata{last.Topic: {{Partition: last.Partition, Offset: last.Offset + 1}}}
		err = h.p.AddOffsetsToTxnWithGroupMetadata(offsets, sarama.NewConsumerGroupMetadataFromSession(s, h.f.Group, nil))
	}
	if err == nil && wantCommit {
		if err = h.p.CommitTxn(); err == nil {
			return report(true, nil)
		}
	}
	if abortErr := h.p.AbortTxn(); abortErr != nil && err == nil {
		err = abortErr
	}
	return report(false, err)
}

// ctp is a consume-transform-produce loop (sarama consumer group, read_committed, offsets
// committed only inside the transactions) until "stop" or EOF on stdin.
func ctp(f flags) {
	if f.ID == "" || f.Out == "" || f.Group == "" {
		wire.Fatal("ctp needs --id, --out and --group")
	}
	p, err := txnProducer(f)
	if err != nil {
		wire.Fatal("NewSyncProducer: %v", err)
	}
	cfg := groupConfig(f, 6*time.Second)
	cfg.Consumer.IsolationLevel = sarama.ReadCommitted
	cg := newGroup(f, cfg, func(event string, fields map[string]any) {
		fields["event"] = event
		wire.Emit(fields)
	})
	ctx, cancel := wire.Until("stop", f.Timeout)
	defer cancel()
	var restart atomic.Bool
	n := 0
	h := ctpHandler{f: f, p: p, mu: &sync.Mutex{}, n: &n, restart: &restart}
	for ctx.Err() == nil {
		if err := cg.Consume(ctx, []string{f.Topic}, h); err != nil && ctx.Err() == nil {
			wire.Emit(map[string]any{"event": "consume_error", "error": err.Error()})
			time.Sleep(100 * time.Millisecond)
		}
	}
	cg.Close()
	p.Close()
	wire.Emit(map[string]any{"event": "done", "transactions": n})
}
