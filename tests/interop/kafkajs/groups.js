#!/usr/bin/env node
// One KafkaJS group consumer for the consumer-group interop tests (tests/interop/test_groups_*.py):
// the KafkaJS twin of the Python worker in test_groups_support.py, with the same line protocol.
//
// argv[2]: JSON options {bootstrap, group, topics, name, session_ms, heartbeat_ms, max_poll_ms
// (used as the rebalance timeout), hold, limit, commit: "each"|"none"}.
// stdout: one JSON event per line: started, assignment {tps}, rebalancing, msg {t,p,o,v},
// commit {t,p,o,err}, error, closed. stdin: "go" (stop holding records back), "close"
// (disconnect, which leaves the group, then exit).
//
// While holding, eachMessage waits (heartbeating) instead of processing; a rebalance then throws
// out of heartbeat() and KafkaJS rejoins, refetching from the committed offsets.
//
// Admin mode: argv[2] = {bootstrap, admin: [{op, ...args}, ...]} runs KafkaJS admin group calls
// (listGroups, describeGroups, fetchOffsets, setOffsets, resetOffsets, deleteGroups) in order and
// prints one line {"results": [{ok, result} | {ok: false, error}, ...]}.
'use strict'

const readline = require('readline')
const { kafkajs, newKafka } = require('./common')

const cfg = JSON.parse(process.argv[2])
const out = (ev, extra = {}) => process.stdout.write(JSON.stringify({ ev, ...extra }) + '\n')
const { AssignerProtocol } = kafkajs
const sleep = ms => new Promise(resolve => setTimeout(resolve, ms))

let hold = !!cfg.hold
let closing = null

const kafka = newKafka({ clientId: cfg.name, brokers: [cfg.bootstrap] })

async function adminMain() {
  const admin = kafka.admin()
  await admin.connect()
  const results = []
  try {
    for (const op of cfg.admin) {
      try {
        let result
        if (op.op === 'listGroups') result = await admin.listGroups()
        else if (op.op === 'describeGroups') {
          result = await admin.describeGroups(op.groupIds)
          for (const g of result.groups) {
            for (const m of g.members) {
              const a = m.memberAssignment && m.memberAssignment.length ? AssignerProtocol.MemberAssignment.decode(m.memberAssignment) : null
              m.memberAssignment = a ? a.assignment : null
              m.memberMetadata = m.memberMetadata && m.memberMetadata.length ? AssignerProtocol.MemberMetadata.decode(m.memberMetadata).topics : null
            }
          }
        } else if (op.op === 'fetchOffsets') result = await admin.fetchOffsets({ groupId: op.groupId, topics: op.topics })
        else if (op.op === 'setOffsets') result = await admin.setOffsets({ groupId: op.groupId, topic: op.topic, partitions: op.partitions })
        else if (op.op === 'resetOffsets') result = await admin.resetOffsets({ groupId: op.groupId, topic: op.topic, earliest: !!op.earliest })
        else if (op.op === 'deleteGroups') result = await admin.deleteGroups(op.groupIds)
        else throw new Error(`unknown op ${op.op}`)
        results.push({ ok: true, result: result === undefined ? null : result })
      } catch (e) {
        const errs = (e.groups || []).map(g => ({ groupId: g.groupId, type: g.error && g.error.type }))
        results.push({ ok: false, error: { name: e.name, type: e.type, message: e.message, groups: errs } })
      }
    }
  } finally {
    await admin.disconnect()
  }
  process.stdout.write(JSON.stringify({ results }) + '\n')
}

if (cfg.admin) {
  adminMain().then(() => process.exit(0), e => {
    process.stdout.write(JSON.stringify({ fatal: String(e && e.stack) }) + '\n')
    process.exit(2)
  })
  return
}

const consumer = kafka.consumer({
  groupId: cfg.group,
  sessionTimeout: cfg.session_ms,
  heartbeatInterval: cfg.heartbeat_ms,
  rebalanceTimeout: cfg.max_poll_ms,
  maxWaitTimeInMs: 100,
})

const { GROUP_JOIN, REBALANCING, CRASH } = consumer.events
consumer.on(GROUP_JOIN, ({ payload }) => {
  const tps = []
  for (const [topic, parts] of Object.entries(payload.memberAssignment || {})) {
    for (const p of parts) tps.push([topic, p])
  }
  tps.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] - b[1]))
  out('assignment', { tps, member_id: payload.memberId, leader: payload.isLeader })
})
consumer.on(REBALANCING, () => out('rebalancing'))
consumer.on(CRASH, ({ payload }) => {
  const e = payload.error || {}
  out('error', { code: e.type || e.name, fatal: !payload.restart, str: String(e.message) })
})

async function close() {
  if (!closing) {
    closing = (async () => {
      try {
        await consumer.disconnect()
      } catch (e) {
        out('error', { code: 'close', fatal: false, str: String(e && e.message) })
      }
      out('closed')
      process.exit(0)
    })()
  }
  return closing
}

readline.createInterface({ input: process.stdin }).on('line', line => {
  const cmd = line.trim()
  if (cmd === 'go') hold = false
  else if (cmd === 'close') close()
}).on('close', () => close())

async function main() {
  await consumer.connect()
  await consumer.subscribe({ topics: cfg.topics, fromBeginning: true })
  await consumer.run({
    autoCommit: false,
    eachMessage: async ({ topic, partition, message, heartbeat }) => {
      while (hold && !closing) {
        await sleep(50)
        await heartbeat()
      }
      if (closing) throw new Error('closing')
      const o = Number(message.offset)
      if (cfg.limit !== undefined && cfg.limit !== null && o >= cfg.limit) return
      out('msg', { t: topic, p: partition, o, v: message.value === null ? null : message.value.toString() })
      if (cfg.commit === 'each') {
        let err = null
        try {
          await consumer.commitOffsets([{ topic, partition, offset: String(o + 1) }])
        } catch (e) {
          err = `${e.type || e.name}: ${e.message}`
        }
        out('commit', { t: topic, p: partition, o: o + 1, err })
      }
    },
  })
  out('started', { pid: process.pid })
}

main().catch(e => {
  out('error', { code: 'crash', fatal: true, str: String(e && e.stack) })
  process.exit(1)
})
