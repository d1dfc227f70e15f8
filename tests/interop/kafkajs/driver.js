#!/usr/bin/env node
// Drives KafkaJS for the interop tests.
//
// Input: one JSON command, as argv[2] or on stdin:
//   {"brokers": ["127.0.0.1:9092"], "ops": [{"op": "...", ...}, ...]}
// (a single op may be given directly instead of "ops"). Binary keys, values and header values
// travel base64-encoded (fields key_b64, value_b64, headers: {name: b64}); null stays null.
// Output: one JSON line on stdout: {"results": [{"ok": true, "result": ...} |
// {"ok": false, "error": {...}}, ...]}. Ops after a failed one still run. KafkaJS's own logs
// go to stderr.
'use strict'

const { kafkajs, newKafka, serializeError, readCommand, writeOut, runUntil } = require('./common')

const { CompressionTypes } = kafkajs

const b64 = s => (s === null || s === undefined ? null : Buffer.from(s, 'base64'))
const toB64 = b => (b === null || b === undefined ? null : Buffer.from(b).toString('base64'))

const COMPRESSION = {
  none: CompressionTypes.None,
  gzip: CompressionTypes.GZIP,
  snappy: CompressionTypes.Snappy,
  lz4: CompressionTypes.LZ4,
  zstd: CompressionTypes.ZSTD,
}

function toMessage(m) {
  const msg = { key: b64(m.key_b64), value: b64(m.value_b64) }
  if (m.headers) {
    msg.headers = {}
    for (const [k, v] of Object.entries(m.headers)) msg.headers[k] = b64(v)
  }
  if (m.timestamp !== undefined && m.timestamp !== null) msg.timestamp = String(m.timestamp)
  if (m.partition !== undefined && m.partition !== null) msg.partition = m.partition
  return msg
}

const ops = {
  async createTopics(kafka, cmd) {
    const admin = kafka.admin()
    await admin.connect()
    try {
      return await admin.createTopics({
        topics: cmd.topics,
        validateOnly: !!cmd.validateOnly,
        waitForLeaders: cmd.waitForLeaders !== false,
        timeout: cmd.timeout || 10000,
      })
    } finally {
      await admin.disconnect()
    }
  },

  async listTopics(kafka) {
    const admin = kafka.admin()
    await admin.connect()
    try {
      return await admin.listTopics()
    } finally {
      await admin.disconnect()
    }
  },

  async metadata(kafka, cmd) {
    const admin = kafka.admin()
    await admin.connect()
    try {
      return await admin.fetchTopicMetadata(cmd.topics ? { topics: cmd.topics } : undefined)
    } finally {
      await admin.disconnect()
    }
  },

  async deleteTopics(kafka, cmd) {
    const admin = kafka.admin()
    await admin.connect()
    try {
      await admin.deleteTopics({ topics: cmd.topics, timeout: cmd.timeout || 10000 })
      return true
    } finally {
      await admin.disconnect()
    }
  },

  async createPartitions(kafka, cmd) {
    const admin = kafka.admin()
    await admin.connect()
    try {
      return await admin.createPartitions({ topicPartitions: cmd.topicPartitions, validateOnly: !!cmd.validateOnly })
    } finally {
      await admin.disconnect()
    }
  },

  async describeConfigs(kafka, cmd) {
    const admin = kafka.admin()
    await admin.connect()
    try {
      return await admin.describeConfigs({ resources: cmd.resources, includeSynonyms: !!cmd.includeSynonyms })
    } finally {
      await admin.disconnect()
    }
  },

  async alterConfigs(kafka, cmd) {
    const admin = kafka.admin()
    await admin.connect()
    try {
      return await admin.alterConfigs({ resources: cmd.resources, validateOnly: !!cmd.validateOnly })
    } finally {
      await admin.disconnect()
    }
  },

  async offsets(kafka, cmd) {
    const admin = kafka.admin()
    await admin.connect()
    try {
      return await admin.fetchTopicOffsets(cmd.topic)
    } finally {
      await admin.disconnect()
    }
  },

  async offsetsByTimestamp(kafka, cmd) {
    const admin = kafka.admin()
    await admin.connect()
    try {
      return await admin.fetchTopicOffsetsByTimestamp(cmd.topic, cmd.timestamp)
    } finally {
      await admin.disconnect()
    }
  },

  async deleteTopicRecords(kafka, cmd) {
    const admin = kafka.admin()
    await admin.connect()
    try {
      // deleteTopicRecords looks leaders up in metadata it does not load itself.
      await admin.fetchTopicMetadata({ topics: [cmd.topic] })
      await admin.deleteTopicRecords({ topic: cmd.topic, partitions: cmd.partitions })
      return true
    } finally {
      await admin.disconnect()
    }
  },

  // {"op": "produce", "topic", "messages": [...], "acks": -1|0|1, "compression": "none"|"gzip",
  //  "idempotent": bool, "oneByOne": bool}. Returns the RecordMetadata list of every send.
  async produce(kafka, cmd) {
    const producer = kafka.producer({
      idempotent: !!cmd.idempotent,
      maxInFlightRequests: cmd.idempotent ? 1 : undefined,
      allowAutoTopicCreation: cmd.allowAutoTopicCreation !== false,
    })
    await producer.connect()
    try {
      const compression = COMPRESSION[cmd.compression || 'none']
      const acks = cmd.acks === undefined ? -1 : cmd.acks
      const messages = cmd.messages.map(toMessage)
      const sent = []
      if (cmd.oneByOne) {
        for (const m of messages) {
          sent.push(await producer.send({ topic: cmd.topic, messages: [m], acks, compression, timeout: 10000 }))
        }
      } else {
        sent.push(await producer.send({ topic: cmd.topic, messages, acks, compression, timeout: 10000 }))
      }
      return sent
    } finally {
      await producer.disconnect()
    }
  },

  // Consumes through a consumer group (KafkaJS has no group-less consumer) until `expected`
  // records arrived or `timeoutMs` passed.
  async consume(kafka, cmd) {
    const consumer = kafka.consumer({ groupId: cmd.groupId, maxWaitTimeInMs: 200 })
    await consumer.connect()
    const got = []
    try {
      await consumer.subscribe({ topics: [cmd.topic], fromBeginning: true })
      // until `expected` records arrived, or timeoutMs passed (then what arrived is the answer)
      await runUntil(consumer, cmd.timeoutMs || 20000, () => null, finish => ({
        autoCommit: false,
        eachMessage: async ({ partition, message }) => {
          // KafkaJS gathers repeated header names into an array: unfold into [name, b64] pairs.
          const headers = []
          for (const [k, v] of Object.entries(message.headers || {})) {
            for (const one of Array.isArray(v) ? v : [v]) headers.push([k, toB64(one)])
          }
          got.push({
            partition,
            offset: Number(message.offset),
            key_b64: toB64(message.key),
            value_b64: toB64(message.value),
            headers,
            timestamp: Number(message.timestamp),
          })
          if (got.length >= cmd.expected) finish()
        },
      }))
      return got
    } finally {
      await consumer.disconnect()
    }
  },
}

async function main() {
  const cmd = await readCommand()
  const kafka = newKafka({
    clientId: cmd.clientId || 'odradek-interop-kafkajs',
    brokers: cmd.brokers,
    level: cmd.logLevel || 'WARN',
    retries: cmd.retries === undefined ? 3 : cmd.retries,
  })
  const list = cmd.ops || [cmd]
  const results = []
  for (const op of list) {
    const fn = ops[op.op]
    if (!fn) {
      results.push({ ok: false, error: { name: 'UnknownOp', message: `unknown op ${op.op}` } })
      continue
    }
    try {
      results.push({ ok: true, result: await fn(kafka, op) })
    } catch (e) {
      results.push({ ok: false, error: serializeError(e) })
    }
  }
  await writeOut({ results })
}

const deadline = setTimeout(() => {
  writeOut({ results: [], fatal: 'driver timed out after 90s' }).then(() => process.exit(3))
}, 90000)
deadline.unref()

main().then(
  () => process.exit(0),
  e => writeOut({ results: [], fatal: serializeError(e) }).then(() => process.exit(2))
)
