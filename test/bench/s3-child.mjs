// One `cache rebuild` or `cache check` of the s3 bench in a process of its own (the built library,
// as the command line runs it), so that its peak RSS is its own and not the bench's. Argument: JSON
// { op: 'rebuild' | 'check', options }. Prints JSON { ms, phases, result, maxRssMiB, cpuSeconds } on stdout.
import { importEntry } from '../../scripts/entry.mjs'

const { op, options } = JSON.parse(process.argv[2])
const lib = await importEntry('index', 'src/index.ts')
const started = performance.now()
// When each phase of the run began, ms from the start: where the time goes (read, resolve, write).
const phases = {}
const onProgress = (p) => (phases[p.phase] ??= Math.round(performance.now() - started))
const result = await (op === 'rebuild' ? lib.rebuildCache : lib.checkCache)({ ...options, onProgress })
const ms = performance.now() - started
// resourceUsage().maxRSS is the process's high-water mark, in KiB; CPU times are in microseconds.
const u = process.resourceUsage()
const cpuSeconds = (u.userCPUTime + u.systemCPUTime) / 1e6
process.stdout.write(`${JSON.stringify({ ms, phases, result, maxRssMiB: Math.round(u.maxRSS / 1024), cpuSeconds })}\n`)
