// A storage element's writes, as its service makes them, in a process of its own (so that the
// latencies it measures are not those of the process that runs the rebuild): each connection runs
// two-row transactions (BEGIN; UPDATE row a; UPDATE row b; COMMIT) over its pairs, one after the
// other, until a line arrives on stdin; then it prints one JSON line with the latency of every
// statement and every error, and exits.
//
// argv[2]: JSON { url, table, key (default file_id), pairs: [[a, b], …][] (one list per connection), thinkMs }
import pg from 'pg'

const o = JSON.parse(process.argv[2])
let stopping = false
process.stdin.once('data', () => (stopping = true))
process.stdin.once('end', () => (stopping = true))

const latencies = []
const errors = []
let transactions = 0
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

async function connect() {
  const c = new pg.Client({ connectionString: o.url, application_name: 'storage-element service' })
  await c.connect()
  return c
}

async function run(c, pairs) {
  const timed = async (sql, params) => {
    const t = performance.now()
    try {
      await c.query(sql, params)
    } finally {
      latencies.push(performance.now() - t)
    }
  }
  const update = `update ${o.table} set description = description where ${o.key ?? 'file_id'} = $1`
  try {
    for (let i = 0; !stopping; i++) {
      const [a, b] = pairs[i % pairs.length]
      try {
        await timed('begin')
        await timed(update, [a])
        if (o.thinkMs) await sleep(o.thinkMs)
        await timed(update, [b])
        await timed('commit')
        transactions++
      } catch (e) {
        errors.push({ code: e.code ?? null, message: String(e.message ?? e) })
        await c.query('rollback').catch(() => undefined)
      }
    }
  } finally {
    await c.end()
  }
}

const clients = await Promise.all(o.pairs.map(connect))
process.stdout.write('started\n')
await Promise.all(clients.map((c, i) => run(c, o.pairs[i])))
process.stdout.write(`${JSON.stringify({ latencies, errors, transactions })}\n`)
