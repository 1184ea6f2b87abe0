// npm run bench: wall times of the Prisma CLI through the offline engine bridge, as ratios against a
// baseline measured in the same run. Uses TEST_DATABASE_URL's server, or the embedded PostgreSQL.
import { benchBridge } from '../src/bench/bench.ts'
import { startEmbedded } from '../src/db/embedded.ts'

const json = process.argv.includes('--json')
const embedded = process.env.TEST_DATABASE_URL ? undefined : await startEmbedded()
try {
  const rows = await benchBridge(process.env.TEST_DATABASE_URL ?? embedded!.url, Number(process.env.BENCH_RUNS ?? 5))
  if (json) console.log(JSON.stringify(rows, null, 2))
  else for (const r of rows) console.log(`${r.ratio.toFixed(2).padStart(6)}×  ${String(r.medianMs).padStart(6)} ms  ${r.name}  (median of ${r.runs})`)
} finally {
  await embedded?.stop()
}
process.exit(0)
