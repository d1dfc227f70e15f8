package main

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"odradek.test/gointerop/internal/wire"
)

// txn runs transactions with one transactional id (--id) on --topic (--partitions of them):
// "c1" committed, "a1" aborted, "c2" committed, ten records each over the partitions. Then
// fencing, twice: "z" is written in a transaction, a second client with the same id starts (its
// InitProducerId fences the first: the coordinator aborts "z") and commits "p2"; the zombie's
// commit is refused by the coordinator. The second client writes "y" in a transaction, a third
// one fences it and commits "p3", and the zombie's next records ("yy") are refused by the
// partition leaders. Prints {"steps": {step: error or null}}.
func txn(f flags) {
	if f.ID == "" || f.Partitions <= 0 {
		wire.Fatal("txn needs --id and --partitions")
	}
	ctx, cancel := context.WithTimeout(context.Background(), wire.Deadline(f.Timeout))
	defer cancel()
	newTxn := func() *kgo.Client {
		return newClient(f, kgo.TransactionalID(f.ID), kgo.DefaultProduceTopic(f.Topic),
			kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.TransactionTimeout(60*time.Second),
			kgo.ProducerLinger(2*time.Millisecond), kgo.RecordRetries(3))
	}
	send := func(cl *kgo.Client, tag string) error {
		recs := make([]*kgo.Record, 10)
		for i := range recs {
			recs[i] = &kgo.Record{Value: []byte(fmt.Sprintf("%s-%02d", tag, i)), Partition: int32(i % f.Partitions)}
		}
		return cl.ProduceSync(ctx, recs...).FirstErr()
	}
	run := func(cl *kgo.Client, tag string, commit bool) map[string]any {
		if err := cl.BeginTransaction(); err != nil {
			return errInfo(fmt.Errorf("begin: %w", err))
		}
		if err := send(cl, tag); err != nil {
			return errInfo(fmt.Errorf("produce: %w", err))
		}
		return errInfo(cl.EndTransaction(ctx, kgo.TransactionEndTry(commit)))
	}
	begin := func(cl *kgo.Client, tag string) map[string]any {
		if err := cl.BeginTransaction(); err != nil {
			return errInfo(fmt.Errorf("begin: %w", err))
		}
		return errInfo(send(cl, tag))
	}
	steps := map[string]any{}
	p1 := newTxn()
	defer p1.Close()
	steps["c1"] = run(p1, "c1", true)
	steps["a1"] = run(p1, "a1", false)
	steps["c2"] = run(p1, "c2", true)
	// the zombie p1 commits: EndTxn with its old epoch
	steps["z"] = begin(p1, "z")
	p2 := newTxn()
	defer p2.Close()
	steps["p2"] = run(p2, "p2", true)
	steps["z_commit"] = errInfo(p1.EndTransaction(ctx, kgo.TryCommit))
	// the zombie p2 produces: records with its old epoch
	steps["y"] = begin(p2, "y")
	p3 := newTxn()
	defer p3.Close()
	steps["p3"] = run(p3, "p3", true)
	steps["yy"] = errInfo(send(p2, "yy"))
	wire.Emit(map[string]any{"steps": steps})
}

// ctp is a consume-transform-produce loop with kgo's GroupTransactSession: records of --topic
// read in group --group (read_committed) are written to --out (same partition, value "out:" +
// input value) and their offsets committed in the same transaction (transactional id --id), at
// most --batch records per transaction; every --abort-every-th transaction is aborted instead
// (its records are read again). One line per transaction; stops on "stop" or EOF on stdin.
func ctp(f flags) {
	if f.ID == "" || f.Out == "" || f.Group == "" {
		wire.Fatal("ctp needs --id, --out and --group")
	}
	sess, err := kgo.NewGroupTransactSession(
		kgo.SeedBrokers(wire.Brokers(f.Brokers)...),
		kgo.ClientID("odradek-franz-ctp"),
		kgo.TransactionalID(f.ID),
		kgo.TransactionTimeout(10*time.Second),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumerGroup(f.Group),
		kgo.ConsumeTopics(f.Topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.SessionTimeout(6*time.Second),
		kgo.HeartbeatInterval(500*time.Millisecond),
		kgo.FetchMaxWait(200*time.Millisecond),
		kgo.DefaultProduceTopic(f.Out),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerLinger(2*time.Millisecond),
	)
	if err != nil {
		wire.Fatal("NewGroupTransactSession: %v", err)
	}
	cmds := wire.Commands()
	deadline := time.Now().Add(wire.Deadline(f.Timeout))
	n := 0
	for time.Now().Before(deadline) {
		select {
		case c, ok := <-cmds:
			if !ok || c == "stop" {
				deadline = time.Now()
				continue
			}
		default:
		}
		pctx, pcancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		fetches := sess.PollRecords(pctx, f.Batch)
		pcancel()
		for _, fe := range fetches.Errors() {
			if fe.Err != context.DeadlineExceeded {
				wire.Emit(map[string]any{"event": "fetch_error", "partition": fe.Partition, "error": fe.Err.Error()})
			}
		}
		recs := fetches.Records()
		if len(recs) == 0 {
			continue
		}
		if err := sess.Begin(); err != nil {
			wire.Fatal("Begin: %v", err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		var mu sync.Mutex
		var produceErr error
		for _, r := range recs {
			out := &kgo.Record{Key: r.Key, Value: append([]byte("out:"), r.Value...), Partition: r.Partition}
			sess.Produce(ctx, out, func(_ *kgo.Record, err error) {
				mu.Lock()
				defer mu.Unlock()
				if err != nil && produceErr == nil {
					produceErr = err
				}
			})
		}
		n++
		try := kgo.TryCommit
		if f.AbortEvery > 0 && n%f.AbortEvery == 0 {
			try = kgo.TryAbort
		}
		committed, err := sess.End(ctx, try)
		cancel()
		mu.Lock()
		pe := wire.ErrText(produceErr)
		mu.Unlock()
		got := make([][]any, len(recs))
		for i, r := range recs {
			got[i] = []any{r.Partition, r.Offset}
		}
		wire.Emit(map[string]any{"event": "txn", "n": n, "wanted_commit": bool(try), "committed": committed,
			"records": got, "error": errInfo(err), "produce_error": pe})
	}
	sess.Close()
	wire.Emit(map[string]any{"event": "done", "transactions": n})
}
