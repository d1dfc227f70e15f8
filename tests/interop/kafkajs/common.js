// What the KafkaJS programs of the interop tests (driver.js, txn.js, groups.js) share: the client
// with its logs on stderr and the tests' timeouts, errors as JSON, the command on argv or stdin,
// and a consumer run until the caller says it is done.
'use strict'

const path = require('path')
const kafkajs = require(path.join(__dirname, 'node_modules', 'kafkajs'))

// A Kafka client: KafkaJS's log lines go to stderr (the tests show them when something fails).
function newKafka({ clientId, brokers, level = 'WARN', retries = 5 }) {
  return new kafkajs.Kafka({
    clientId,
    brokers,
    logLevel: kafkajs.logLevel[level],
    logCreator: () => ({ namespace, label, log }) => {
      const { message, ...extra } = log
      process.stderr.write(`[kafkajs ${label}] ${namespace}: ${message} ${JSON.stringify(extra)}\n`)
    },
    connectionTimeout: 3000,
    requestTimeout: 10000,
    retry: { retries, initialRetryTime: 100, maxRetryTime: 1000 },
  })
}

function serializeError(e) {
  if (!e) return null
  const out = { name: e.name, message: e.message, type: e.type, code: e.code, retriable: e.retriable }
  if (Array.isArray(e.errors)) out.errors = e.errors.map(serializeError)
  if (e.cause) out.cause = serializeError(e.cause)
  if (e.originalError) out.originalError = serializeError(e.originalError)
  return out
}

// The JSON command: argv[2], or all of stdin.
async function readCommand() {
  let raw = process.argv[2]
  if (!raw) {
    const chunks = []
    for await (const c of process.stdin) chunks.push(c)
    raw = Buffer.concat(chunks).toString('utf8')
  }
  return JSON.parse(raw)
}

// stdout to a pipe is asynchronous in node: exit only once the whole line is written.
function writeOut(doc) {
  return new Promise(resolve => process.stdout.write(JSON.stringify(doc) + '\n', resolve))
}

// consumer.run(config(done)) until done() is called. run() resolves at once: a failing group join
// or fetch shows up as a crash event, which rejects. After timeoutMs, onTimeout() gives the error
// to reject with, or null to resolve.
function runUntil(consumer, timeoutMs, onTimeout, config) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      const err = onTimeout()
      if (err) reject(err)
      else resolve()
    }, timeoutMs)
    const done = () => {
      clearTimeout(timer)
      resolve()
    }
    consumer.on(consumer.events.CRASH, ({ payload }) => {
      clearTimeout(timer)
      reject(payload.error)
    })
    consumer.run(config(done)).catch(reject)
  })
}

module.exports = { kafkajs, newKafka, serializeError, readCommand, writeOut, runUntil }
