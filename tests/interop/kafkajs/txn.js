#!/usr/bin/env node
// KafkaJS transactions for tests/interop/test_transactions_kafkajs.py.
//
// argv[2] (or stdin): one JSON command {"brokers": [...], "op": "...", ...}. Ops:
//   run:    {tid, transactions: [{sends: [{topic, partition, value}], end: "commit"|"abort"}]}
//           -> {producerId, epoch} after every transaction ended as asked
//   read:   {topics, until: {"topic/partition": "sentinel value"}, isolation: "read_committed"|
//           "read_uncommitted"} -> [{topic, partition, offset, value}] (a group consumer from the
//           beginning until each partition delivered its sentinel)
//   fence:  {tid, topic} -> a zombie and a newer producer with one transactional id: what each
//           step of the zombie threw after the newer producer's initProducerId
//   ctp:    {tid, group, input, output, count, chunk, abortAt} -> consume-transform-produce:
//           chunks of `chunk` records per transaction with sendOffsets; the transaction number
//           `abortAt` is aborted and its chunk read again from the group's offset
//   hang:   {tid, topic, value, timeoutMs} -> prints {"sent": true, "offset": N} and waits to be killed
// Output: one JSON line {"ok": true, "result": ...} or {"ok": false, "error": {...}}.
'use strict'

const { newKafka, serializeError, readCommand, writeOut, runUntil } = require('./common')

const txnProducer = (kafka, tid, timeoutMs) =>
  kafka.producer({ transactionalId: tid, idempotent: true, maxInFlightRequests: 1, transactionTimeout: timeoutMs || 60000 })

async function sendAll(txn, sends) {
  for (const s of sends) {
    await txn.send({ topic: s.topic, acks: -1, messages: [{ partition: s.partition, value: s.value }] })
  }
}

const ops = {
  async run(kafka, cmd) {
    const producer = txnProducer(kafka, cmd.tid)
    await producer.connect()
    try {
      for (const t of cmd.transactions) {
        const txn = await producer.transaction()
        await sendAll(txn, t.sends)
        if (t.end === 'commit') await txn.commit()
        else await txn.abort()
      }
      return true
    } finally {
      await producer.disconnect()
    }
  },

  async read(kafka, cmd) {
    const consumer = kafka.consumer({
      groupId: cmd.groupId,
      maxWaitTimeInMs: 200,
      readUncommitted: cmd.isolation === 'read_uncommitted',
    })
    await consumer.connect()
    const got = []
    const missing = new Set(Object.keys(cmd.until))
    try {
      for (const topic of cmd.topics) await consumer.subscribe({ topic, fromBeginning: true })
      await runUntil(consumer, cmd.timeoutMs || 30000, () => new Error(`sentinels not seen: ${[...missing]}`), finish => ({
        autoCommit: false,
        eachMessage: async ({ topic, partition, message }) => {
          const value = message.value === null ? null : message.value.toString()
          got.push({ topic, partition, offset: Number(message.offset), value })
          const key = `${topic}/${partition}`
          if (cmd.until[key] === value) missing.delete(key)
          if (missing.size === 0) finish()
        },
      }))
      return got
    } finally {
      await consumer.disconnect()
    }
  },

  async fence(kafka, cmd) {
    const zombie = txnProducer(kafka, cmd.tid)
    const fresh = txnProducer(kafka, cmd.tid)
    await zombie.connect()
    await fresh.connect()
    const out = {}
    try {
      const zt = await zombie.transaction()
      await zt.send({ topic: cmd.topic, acks: -1, messages: [{ partition: 0, value: 'zombie-1' }] })
      const ft = await fresh.transaction() // InitProducerId: aborts the zombie's transaction
      await ft.send({ topic: cmd.topic, acks: -1, messages: [{ partition: 0, value: 'fresh-1' }] })
      try {
        await zt.send({ topic: cmd.topic, acks: -1, messages: [{ partition: 0, value: 'zombie-2' }] })
        out.send = null
      } catch (e) {
        out.send = serializeError(e)
      }
      try {
        await zt.commit()
        out.commit = null
      } catch (e) {
        out.commit = serializeError(e)
      }
      await ft.commit()
      return out
    } finally {
      await zombie.disconnect()
      await fresh.disconnect()
    }
  },

  async ctp(kafka, cmd) {
    const consumer = kafka.consumer({ groupId: cmd.group, maxWaitTimeInMs: 200 }) // read_committed by default
    const producer = txnProducer(kafka, cmd.tid)
    await consumer.connect()
    await producer.connect()
    let done = 0
    let txns = 0
    const log = []
    try {
      await consumer.subscribe({ topic: cmd.input, fromBeginning: true })
      await runUntil(consumer, cmd.timeoutMs || 60000, () => new Error(`only ${done} of ${cmd.count} processed`), finish => ({
        autoCommit: false,
        eachBatchAutoResolve: false,
        eachBatch: async ({ batch, heartbeat }) => {
          const msgs = batch.messages.filter(m => Number(m.offset) >= done)
          for (let i = 0; i < msgs.length; i += cmd.chunk) {
            const chunk = msgs.slice(i, i + cmd.chunk)
            const next = Number(chunk[chunk.length - 1].offset) + 1
            const txn = await producer.transaction()
            for (const m of chunk) {
              await txn.send({ topic: cmd.output, acks: -1, messages: [{ partition: 0, value: 'out:' + m.value.toString() }] })
            }
            await txn.sendOffsets({
              consumerGroupId: cmd.group,
              topics: [{ topic: batch.topic, partitions: [{ partition: batch.partition, offset: String(next) }] }],
            })
            txns += 1
            if (txns === cmd.abortAt) {
              await txn.abort()
              log.push({ aborted: next })
              // read the chunk again from the group's committed offset
              consumer.seek({ topic: batch.topic, partition: batch.partition, offset: String(done) })
              return
            }
            await txn.commit()
            done = next
            log.push({ committed: next })
            await heartbeat()
          }
          if (done >= cmd.count) finish()
        },
      }))
      return log
    } finally {
      await consumer.disconnect()
      await producer.disconnect()
    }
  },

  async hang(kafka, cmd) {
    const producer = txnProducer(kafka, cmd.tid, cmd.timeoutMs)
    await producer.connect()
    const txn = await producer.transaction()
    const [md] = await txn.send({ topic: cmd.topic, acks: -1, messages: [{ partition: 0, value: cmd.value }] })
    process.stdout.write(JSON.stringify({ sent: true, offset: Number(md.baseOffset) }) + '\n')
    await new Promise(() => {}) // until SIGKILL
  },
}

async function main() {
  const cmd = await readCommand()
  const fn = ops[cmd.op]
  if (!fn) return writeOut({ ok: false, error: { name: 'UnknownOp', message: `unknown op ${cmd.op}` } })
  const kafka = newKafka({ clientId: cmd.clientId || 'odradek-txn-kafkajs', brokers: cmd.brokers })
  try {
    await writeOut({ ok: true, result: await fn(kafka, cmd) })
  } catch (e) {
    await writeOut({ ok: false, error: serializeError(e) })
  }
}

if (JSON.parse(process.argv[2] || '{}').op !== 'hang') {
  const deadline = setTimeout(() => writeOut({ ok: false, error: { name: 'Timeout', message: 'txn.js timed out after 90s' } }).then(() => process.exit(3)), 90000)
  deadline.unref()
}

main().then(
  () => {
    if (JSON.parse(process.argv[2] || '{}').op !== 'hang') process.exit(0)
  },
  e => writeOut({ ok: false, error: serializeError(e) }).then(() => process.exit(2))
)
