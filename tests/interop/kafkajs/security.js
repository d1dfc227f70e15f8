#!/usr/bin/env node
// KafkaJS against secured listeners, for the security interop tests.
//
// Input (stdin): {"scenarios": [{name, brokers: [...], ssl: {ca, cert, key} (PEM file paths) | null,
//   sasl: {mechanism: "plain"|"scram-sha-256"|"scram-sha-512"|"oauthbearer", username, password,
//   token} | null, topic, group, records, runMs, reauthenticationThreshold}]}.
// Each scenario produces `records` keyed messages (or, with runMs, one every 100 ms for that
// long), consumes them as a member of `group`, commits, and reports one result:
// {name, produced, consumed, committed, error: {name, message, type, retriable} | null, authError}.
// authError: KafkaJS said the broker refused the credentials (KafkaJSSASLAuthenticationError).
'use strict'

const fs = require('fs')
const path = require('path')
const { Kafka, logLevel } = require(path.join(__dirname, 'node_modules', 'kafkajs'))

function logger() {
  return ({ namespace, label, log }) => {
    const { message, ...extra } = log
    process.stderr.write(`[kafkajs ${label}] ${namespace}: ${message} ${JSON.stringify(extra)}\n`)
  }
}

function config(s) {
  const conf = {
    clientId: 'odradek-security-' + s.name,
    brokers: s.brokers,
    logLevel: logLevel.WARN,
    logCreator: logger,
    connectionTimeout: 5000,
    requestTimeout: 15000,
    retry: { retries: s.retries === undefined ? 3 : s.retries, initialRetryTime: 100, maxRetryTime: 1000 },
  }
  if (s.ssl) {
    conf.ssl = { ca: [fs.readFileSync(s.ssl.ca, 'utf8')] }
    if (s.ssl.cert) {
      conf.ssl.cert = fs.readFileSync(s.ssl.cert, 'utf8')
      conf.ssl.key = fs.readFileSync(s.ssl.key, 'utf8')
    }
  }
  if (s.sasl) {
    if (s.sasl.mechanism === 'oauthbearer') {
      const token = s.sasl.token
      conf.sasl = { mechanism: 'oauthbearer', oauthBearerProvider: async () => ({ value: token }) }
    } else {
      conf.sasl = { mechanism: s.sasl.mechanism, username: s.sasl.username, password: s.sasl.password }
    }
  }
  if (s.reauthenticationThreshold !== undefined) conf.reauthenticationThreshold = s.reauthenticationThreshold
  return conf
}

function describe(e) {
  return { name: e.name, message: e.message, type: e.type, retriable: e.retriable }
}

function isAuth(e) {
  for (let c = e; c; c = c.originalError || c.cause) {
    if (c.name === 'KafkaJSSASLAuthenticationError') return true
  }
  return false
}

async function scenario(s) {
  const out = { name: s.name, produced: 0, consumed: 0, committed: false, error: null, authError: false }
  const kafka = new Kafka(config(s))
  const producer = kafka.producer({ allowAutoTopicCreation: false })
  const consumer = kafka.consumer({ groupId: s.group, maxWaitTimeInMs: 200, sessionTimeout: 10000, heartbeatInterval: 1000 })
  try {
    await producer.connect()
    const send = async n => {
      const messages = []
      for (let i = 0; i < n; i++) {
        messages.push({ key: 'k' + (out.produced + i), value: `kafkajs ${s.name} ${out.produced + i}` })
      }
      await producer.send({ topic: s.topic, messages, acks: -1 })
      out.produced += n
    }
    if (!s.runMs) await send(s.records)
    await consumer.connect()
    await consumer.subscribe({ topics: [s.topic], fromBeginning: true })
    const next = {}
    await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`consumed ${out.consumed} of ${out.produced} in time`)), (s.runMs || 0) + 60000)
      consumer.on(consumer.events.CRASH, ({ payload }) => { clearTimeout(timer); reject(payload.error) })
      let producing = !!s.runMs
      if (producing) {
        const start = Date.now()
        const tick = async () => {
          if (Date.now() - start >= s.runMs) {
            producing = false
            if (out.consumed >= out.produced) { clearTimeout(timer); resolve() }
            return
          }
          try { await send(1) } catch (e) { clearTimeout(timer); reject(e); return }
          setTimeout(tick, 100)
        }
        tick()
      }
      consumer.run({
        autoCommit: false,
        eachMessage: async ({ partition, message }) => {
          out.consumed++
          next[partition] = (BigInt(message.offset) + 1n).toString()
          if (!producing && out.consumed >= out.produced) { clearTimeout(timer); resolve() }
        },
      }).catch(e => { clearTimeout(timer); reject(e) })
    })
    await consumer.commitOffsets(Object.entries(next).map(([p, offset]) => ({ topic: s.topic, partition: Number(p), offset })))
    out.committed = true
  } catch (e) {
    out.error = describe(e)
    out.authError = isAuth(e)
  } finally {
    await consumer.disconnect().catch(() => {})
    await producer.disconnect().catch(() => {})
  }
  return out
}

async function main() {
  const chunks = []
  for await (const c of process.stdin) chunks.push(c)
  const cmd = JSON.parse(Buffer.concat(chunks).toString('utf8'))
  const results = await Promise.all(cmd.scenarios.map(scenario))
  await new Promise(resolve => process.stdout.write(JSON.stringify({ results }) + '\n', resolve))
}

main().then(
  () => process.exit(0),
  e => process.stdout.write(JSON.stringify({ fatal: describe(e) }) + '\n', () => process.exit(2))
)
