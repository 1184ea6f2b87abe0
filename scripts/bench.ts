// npm run bench: timings as ratios against a baseline measured in the same run, on TEST_DATABASE_URL's
// server or the embedded PostgreSQL. `-- --only bridge|cycle|rebuild|adopt|commands|search|fleet` runs one part; `-- --json` prints JSON;
// `-- --rows N` sets the search benchmark's number of rows (default 1 000 000);
// `-- --files N` sets the rebuild benchmark's number of attr.json files (default 100 000; with --only s3, 10 000).
// `-- --only s3` (only when named) rebuilds from s3rver; `--services-sample N`, `--s3-concurrency N`, `--s3-workers N`.
// `commands` times the CLI's commands as child processes against `node -e 0` (F) and checks them against
// their goals; `-- --before <dir>` also measures another checkout of the project (with its own
// node_modules) in the same run, printed as a "before" column next to this checkout's "after".
// `-- --only live` (only when named): the services' traffic while deploy runs; `--audit-rows N` (default 1 000 000),
// `--reader-for <s>` (default 20), `--lock-timeout <duration>` (given to deploy),
// `--backfill batched|plain` (the admin_user_id backfill's form, default batched; plain is one UPDATE, for a tool without batched backfills), `--quick` (20 000 rows, a 5 s reader, a 5 s baseline window).
// BENCH_RUNS sets the number of timed runs of bridge and commands (default 5).
import { benchAdopt } from '../test/bench/adopt.ts'
import { benchBridge } from '../test/bench/bench.ts'
import { benchCommands, type CommandsBench } from '../test/bench/commands.ts'
import { benchCycle } from '../test/bench/cycle.ts'
import { benchRebuild } from '../test/bench/rebuild.ts'
import { benchS3 } from '../test/bench/s3.ts'
import { benchSearch, type SearchBench } from '../test/bench/search.ts'
import { benchFleet } from '../test/bench/fleet.ts'
import { benchLive, type LiveBench } from '../test/bench/live.ts'
import { startEmbedded } from '../src/db/embedded.ts'

const argv = process.argv.slice(2)
const json = argv.includes('--json')
const only = argv.includes('--only') ? argv[argv.indexOf('--only') + 1] : undefined
const before = argv.includes('--before') ? argv[argv.indexOf('--before') + 1] : undefined
const wanted = (name: string) => only === undefined || only === name

function printCommands(b: CommandsBench): void {
  console.log(`\nartstore-db commands on ${b.server}: F = node -e 0 = ${b.nodeMs} ms (median of ${b.runs} after one warm-up)`)
  const cell = (t?: { medianMs: number; ratio: number }) =>
    t ? `${String(t.medianMs).padStart(6)} ms ${t.ratio.toFixed(2).padStart(6)}×` : `${'(shared)'.padStart(17)}`
  const width = Math.max(...b.rows.map((r) => r.name.length))
  const heads = b.beforeDir ? `${'after'.padStart(17)}  ${'before'.padStart(17)}` : 'after'.padStart(17)
  console.log(`${''.padEnd(width)}  ${heads}  goal (after)`)
  for (const r of b.rows) {
    const cells = b.beforeDir ? `${cell(r.after)}  ${cell(r.before)}` : cell(r.after)
    const goal = r.goal ? `${r.goal} ${r.ok ? '✅' : '❌'}` : ''
    console.log(`${r.name.padEnd(width)}  ${cells}  ${goal}`)
  }
  console.log(`after = ${b.afterDir}${b.beforeDir ? `, before = ${b.beforeDir}` : ''}`)
}
function printSearch(b: SearchBench): void {
  console.log(
    `\nthe query service's searches on ${b.rows} rows (loaded in ${b.loadMs} ms), p50/p95 of ${b.runs} warm runs; ratio = p95 / the full-text page's p95 in the same phase`,
  )
  console.log(`after = after ${b.migrations.join(', ')} (applied in ${b.migrateMs} ms)`)
  const page = (phase: SearchBench['before']) => phase.find((s) => s.name === 'full-text page of 50')!.p95Ms
  for (const [label, phase] of [
    ['before', b.before],
    ['after', b.after],
  ] as const) {
    console.log(`\n${label}:`)
    for (const s of phase) {
      const ratio = (s.p95Ms / page(phase)).toFixed(1)
      console.log(
        `  ${s.name.padEnd(22)} ${String(s.p50Ms).padStart(8)} ms ${String(s.p95Ms).padStart(8)} ms ${ratio.padStart(7)}×  ${String(s.rows).padStart(6)} rows  ${s.plan}`,
      )
    }
  }
  const goals = b.after
    .map((s) =>
      s.name.includes('page')
        ? `${s.name} p95 ≤ 20 ms: ${s.p95Ms <= 20 ? '✅' : '❌'}`
        : s.name.startsWith('partial')
          ? `${s.name} ≤ 10× full-text page: ${s.p95Ms <= 10 * page(b.after) ? '✅' : '❌'}`
          : undefined,
    )
    .filter(Boolean)
  console.log(`\ngoals (after): ${goals.join('; ')}`)
}

function printLive(b: LiveBench): void {
  console.log(
    `\nthe services' traffic (${b.connections} connections, ${b.ratePerSecond} statements/s, latency from when each was due) while deploy runs, on ${b.auditRows} audit_logs rows, ${b.fileRows} files, ${b.queryRows} query-cache rows (seeded in ${b.seedMs} ms)`,
  )
  for (const [m, names] of Object.entries(b.migrations)) console.log(`  ${m}: ${names.length ? names.join(', ') : '(nothing pending)'}`)
  console.log(`  backfill: ${b.backfill}; deploy's lock timeout: ${b.lockTimeout}`)
  const width = Math.max(...b.phases[0].kinds.map((k) => k.name.length), 3)
  for (const p of b.phases) {
    const d = p.deploy
    const head = d
      ? `deploy ${d.ms} ms, exit ${d.exitCode}, ${d.timedOutTries} timed-out lock tries (${d.retryPausesMs} ms of pauses)${p.reader ? `; reader held ${p.reader.heldMs} ms, ${p.reader.heldAfterDeployStartMs} ms of them after the deploy started` : ''}`
      : `window ${p.windowMs} ms`
    console.log(
      `\n${p.name}: ${head}; the bench's event loop held up at most ${p.harnessLagMaxMs} ms; load average ${p.loadAverage[0]} → ${p.loadAverage[1]}, CPU ${p.cpuBusyPercent} % busy`,
    )
    if (d)
      for (const m of d.modules)
        console.log(
          `  ${m.module}: ${m.status}, ${m.migrations} migrations${m.durationMs !== undefined ? ` in ${m.durationMs} ms` : ''}${m.timedOutTries ? `, ${m.timedOutTries} timed-out tries, blocked by ${m.blockers.join(', ')}` : ''}`,
        )
    console.log(`  ${''.padEnd(width)}  ${'count'.padStart(6)}  ${'p50'.padStart(9)}  ${'p99'.padStart(9)}  ${'max'.padStart(9)}  errors`)
    for (const k of [...p.kinds, p.all])
      console.log(
        `  ${k.name.padEnd(width)}  ${String(k.count).padStart(6)}  ${`${k.p50Ms} ms`.padStart(9)}  ${`${k.p99Ms} ms`.padStart(9)}  ${`${k.maxMs} ms`.padStart(9)}  ${k.errors}`,
      )
    for (const e of p.errorMessages.slice(0, 5)) console.log(`  error ×${e.count}: ${e.message}`)
    if (p.steps?.length) {
      // Per step, the kinds furthest above the first baseline's p99 (the step a slow statement belongs to).
      const base = b.phases[0].kinds
      console.log(`  by step (the three kinds furthest above the first baseline's p99, p99 − baseline p99 / max, statements):`)
      for (const s of p.steps) {
        const worst = s.kinds
          .filter((k) => k.count > 0)
          .map((k) => ({ k, over: k.p99Ms - (base.find((x) => x.name === k.name)?.p99Ms ?? 0) }))
          .sort((x, y) => y.over - x.over)
          .slice(0, 3)
          .map(({ k, over }) => `${k.name} ${over >= 0 ? '+' : ''}${Math.round(over)} / ${k.maxMs} ms (${k.count})`)
        console.log(`    ${s.step} (${s.ms} ms): ${worst.join('; ') || 'no statements'}`)
      }
    }
  }
  console.log('\ngoals:')
  for (const g of b.goals) console.log(`  ${g.ok ? '✅' : '❌'} ${g.name}: ${g.detail}`)
}

const embedded = process.env.TEST_DATABASE_URL ? undefined : await startEmbedded()
const server = process.env.TEST_DATABASE_URL ?? embedded!.url
const results: Record<string, unknown> = {}
/** Which benchmark runs now, on a terminal (some take a minute); stdout keeps only the results. */
const announce = (name: string) => {
  if (!json && process.stderr.isTTY) process.stderr.write(`… bench ${name}\n`)
}
try {
  if (wanted('bridge')) {
    announce('bridge')
    const rows = await benchBridge(server, Number(process.env.BENCH_RUNS ?? 5))
    results.bridge = rows
    if (!json) {
      console.log('Prisma CLI through the offline engine bridge (baseline: prisma --help)')
      for (const r of rows) console.log(`${r.ratio.toFixed(2).padStart(7)}×  ${String(r.medianMs).padStart(6)} ms  ${r.name}  (median of ${r.runs})`)
    }
  }
  if (wanted('cycle')) {
    announce('cycle')
    const rows = await benchCycle(server)
    results.cycle = rows
    if (!json) {
      console.log('\nup → down → up cycle per module (baseline: the same migration.sql applied with a plain pg client)')
      for (const r of rows) {
        console.log(`${r.ratio.toFixed(1).padStart(7)}×  ${String(r.cycleMs).padStart(6)} ms  ${r.module} cycle vs ${r.rawApplyMs} ms raw apply`)
        console.log(`           ${r.steps.map((s) => `${s.name} ${s.ms} ms`).join(' → ')}`)
      }
    }
  }
  if (wanted('rebuild')) {
    announce('rebuild')
    const r = await benchRebuild(server, argv.includes('--files') ? Number(argv[argv.indexOf('--files') + 1]) : undefined)
    results.rebuild = r
    if (!json) {
      console.log(`\ncache rebuild of ${r.files} attr.json files (baseline: raw COPY of the same rows from a prebuilt file)`)
      console.log(
        `${r.ratio.toFixed(2).padStart(7)}×  ${r.rebuildFilesPerSec} files/s rebuild (${r.rebuildMs} ms) vs ${r.copyRowsPerSec} rows/s COPY (${r.copyMs} ms)`,
      )
      console.log(`           peak RSS while rebuilding ${r.peakRssMiB} MiB (process high-water mark ${r.maxRssMiB} MiB)`)
      const l = r.live
      console.log(`\ncache rebuild rewriting every row beside the service's writes (two-row transactions across hour folders, 2 connections)`)
      console.log(
        `${l.ratio.toFixed(2).padStart(7)}×  rebuild ${l.liveMs} ms with the writer vs ${l.quietMs} ms without${l.failed ? ` (FAILED: ${l.failed})` : ''}`,
      )
      console.log(
        `${l.maxRatio.toFixed(2).padStart(7)}×  writer max ${l.writerDuring.maxMs} ms during the rebuild vs ${l.writerAlone.maxMs} ms alone (bound: 500 ms)`,
      )
      console.log(
        `${l.p99Ratio.toFixed(2).padStart(7)}×  writer p99 ${l.writerDuring.p99Ms} ms vs ${l.writerAlone.p99Ms} ms alone; p50 ${l.writerDuring.p50Ms} vs ${l.writerAlone.p50Ms} ms`,
      )
      console.log(`           ${l.writerDuring.statements} writer statements, ${l.writerTransactions} transactions, ${l.writerErrors} errors`)
    }
  }
  // Only when asked for (-- --only s3): it starts an S3 server and reads N files through it.
  if (only === 's3') {
    announce('s3')
    const flag = (name: string) => (argv.includes(name) ? Number(argv[argv.indexOf(name) + 1]) : undefined)
    const r = await benchS3(server, flag('--files'), flag('--services-sample'), flag('--s3-concurrency'), flag('--s3-workers'))
    results.s3 = r
    if (!json) {
      const workers = r.s3Workers > 1 ? ` (${r.s3Workers} processes)` : ''
      console.log(`\ncache rebuild of ${r.files} attr.json objects (each beside its data object) from s3rver${workers}, ${r.concurrency} GETs in flight`)
      console.log(`           s3rver serves ${r.serverGetsPerSec} unsigned GET/s to a trivial client at the same concurrency (its ceiling)`)
      console.log(
        `${r.vsBare.toFixed(2).padStart(7)}×  rebuild ${r.rebuildMs} ms vs a bare SDK loop (list + GET, same concurrency) ${r.bareMs} ms (goal ≥ 0.8)`,
      )
      console.log(`${r.vsBareSigned.toFixed(2).padStart(7)}×  rebuild vs a bare loop of its own signed GETs (the reads alone) ${r.bareSignedMs} ms`)
      console.log(
        `${r.vsServices.toFixed(2).padStart(7)}×  ${r.rebuildFilesPerSec} files/s vs the services' method ${r.servicesFilesPerSec} files/s (sequential GETs, a client per file, a commit per 100 rows; ${r.servicesSample} files) (goal ≥ 5)`,
      )
      console.log(`${r.checkVsList.toFixed(2).padStart(7)}×  cache check ${r.checkMs} ms vs a bare listing of the same keys ${r.listMs} ms`)
      const cpu = r.cpuMsPerFile
      console.log(
        `           CPU a file: rebuild ${cpu.rebuild} ms + s3rver ${cpu.rebuildServer} ms; the services' method ${cpu.services} ms + s3rver ${cpu.servicesServer} ms (PostgreSQL not counted)`,
      )
      const ph = r.rebuildPhasesMs
      console.log(
        `           the rebuild's phases: read ${ph.resolve ?? '?'} ms, judge ${ph.write !== undefined && ph.resolve !== undefined ? ph.write - ph.resolve : '?'} ms, write ${ph.done !== undefined && ph.write !== undefined ? ph.done - ph.write : '?'} ms`,
      )
      console.log(`           peak RSS of the rebuild's process ${r.peakRssMiB} MiB, of the check's ${r.checkPeakRssMiB} MiB`)
    }
  }
  if (wanted('adopt')) {
    announce('adopt')
    const r = await benchAdopt(server, Number(process.env.BENCH_AUDIT_ROWS ?? 1_000_000))
    results.adopt = r
    if (!json) {
      console.log(`\nadopt of an 8b9ca29 admin database with ${r.auditRows} audit_logs rows (baseline: one count(*) + content-hash scan of audit_logs)`)
      console.log(`${r.ratio.toFixed(1).padStart(7)}×  ${String(r.adoptMs).padStart(6)} ms  adopt --yes (${r.steps} steps) vs ${r.scanMs} ms scan`)
    }
  }
  if (wanted('commands')) {
    announce('commands')
    const b = await benchCommands(server, { runs: Number(process.env.BENCH_RUNS ?? 5), before })
    results.commands = b
    if (!json) printCommands(b)
  }
  if (only === 'search') {
    announce('search')
    const b = await benchSearch(server, argv.includes('--rows') ? Number(argv[argv.indexOf('--rows') + 1]) : undefined, Number(process.env.BENCH_RUNS ?? 20))
    results.search = b
    if (!json) printSearch(b)
  }
  if (wanted('fleet')) {
    announce('fleet')
    const b = await benchFleet(server)
    results.fleet = b
    if (!json) {
      console.log(`\ndeploy --instances of ${b.instances} storage-element instances in one database (shared layout), against one instance, median of ${b.runs}`)
      console.log(`  nothing pending: ${b.manyNoopMs} ms vs ${b.oneNoopMs} ms: ${b.noopRatio}× (goal ≤ 3×) ${b.noopRatio <= 3 ? '✅' : '❌'}`)
      console.log(`  fresh:           ${b.manyFreshMs} ms vs ${b.oneFreshMs} ms: ${b.freshRatio}×`)
    }
  }
  if (only === 'live') {
    announce('live')
    const quick = argv.includes('--quick')
    const flag = (name: string) => (argv.includes(name) ? Number(argv[argv.indexOf(name) + 1]) : undefined)
    const readerFor = flag('--reader-for')
    const backfill = argv.includes('--backfill') ? argv[argv.indexOf('--backfill') + 1] : 'batched'
    if (backfill !== 'plain' && backfill !== 'batched') throw new Error(`--backfill "${backfill}": give plain or batched`)
    const b = await benchLive(server, {
      auditRows: flag('--audit-rows') ?? (quick ? 20_000 : undefined),
      readerMs: readerFor !== undefined ? readerFor * 1000 : quick ? 5000 : undefined,
      baselineMs: quick ? 5000 : undefined,
      lockTimeout: argv.includes('--lock-timeout') ? argv[argv.indexOf('--lock-timeout') + 1] : undefined,
      backfill,
    })
    results.live = b
    if (!json) printLive(b)
  }
  if (json) console.log(JSON.stringify(results, null, 2))
} finally {
  await embedded?.stop()
}
process.exit(0)
