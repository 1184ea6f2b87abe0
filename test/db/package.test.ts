// Issue 19, item 11: the package is a library another Node project can import. The project is packed
// once for this file (`npm pack` of a copy of the checkout, so that the checkout's own dist/ is never
// rebuilt under a test running beside this one), the tarball unpacked into a scratch project outside
// the checkout as npm installs it (every file dated at the install), and imported there with plain
// `node`, no tsx. Nothing is downloaded: the unpacked package's node_modules is a link to the
// checkout's, where npm would have installed its dependencies.
import { execFileSync, spawnSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { projectRoot } from '../../src/modules.ts'
import { dropDatabase, freshDatabase } from '../helpers/db.ts'

const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'artstore-package-'))
const checkout = path.join(scratch, 'checkout')
const consumer = path.join(scratch, 'consumer')
const installed = path.join(consumer, 'node_modules', 'artstore-db')
let packed: string[] = []
let url: string

/** The environment of a program of the scratch project: no database variables, no loader of the test runner's. */
function programEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, ARTSTORE_DOTENV: '0' }
  for (const v of ['NODE_OPTIONS', 'DATABASE_URL', 'ADMIN_DATABASE_URL', 'STORAGE_ELEMENT_DATABASE_URL', 'QUERY_DATABASE_URL']) delete env[v]
  return env
}

/** Runs an ES module script with plain node in the scratch project; returns its JSON output. */
function inConsumer(script: string, env: NodeJS.ProcessEnv = {}): unknown {
  const run = spawnSync(process.execPath, ['--input-type=module', '-e', script], { cwd: consumer, env: { ...programEnv(), ...env }, encoding: 'utf8' })
  expect(run.status, run.stdout + run.stderr).toBe(0)
  return JSON.parse(run.stdout)
}

beforeAll(async () => {
  url = await freshDatabase('package')
  // The checkout as a clone has it (no build, no scratch folders; the tests left out to keep the copy
  // small), with the dependencies npm ci installed.
  fs.mkdirSync(checkout)
  for (const entry of fs.readdirSync(projectRoot)) {
    if (['node_modules', 'dist', 'generated', 'test', '.artstore', '.git', '.env'].includes(entry)) continue
    fs.cpSync(path.join(projectRoot, entry), path.join(checkout, entry), { recursive: true })
  }
  fs.symlinkSync(path.join(projectRoot, 'node_modules'), path.join(checkout, 'node_modules'))
  // npm pack runs prepack, which builds dist/ and its type declarations.
  const out = execFileSync('npm', ['pack', '--offline', '--json', '--pack-destination', scratch], { cwd: checkout, env: programEnv(), encoding: 'utf8' })
  const [pack] = JSON.parse(out.slice(out.indexOf('['))) as { filename: string; files: { path: string }[] }[]
  packed = pack.files.map((f) => f.path)
  fs.mkdirSync(installed, { recursive: true })
  fs.writeFileSync(path.join(consumer, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }))
  // As npm unpacks a package: each file dated at the install (--touch), not at the build.
  execFileSync('tar', ['-xzf', path.join(scratch, pack.filename), '-C', installed, '--strip-components=1', '--touch'])
  fs.symlinkSync(path.join(projectRoot, 'node_modules'), path.join(installed, 'node_modules'))
}, 600_000)

afterAll(async () => {
  fs.rmSync(scratch, { recursive: true, force: true })
  await dropDatabase('package')
})

describe('issue 19 item 11: the packed package, imported by another project with plain node', () => {
  test('the tarball holds the built entry, its declarations and what runs (scripts, prisma/), and no tests', () => {
    for (const f of ['dist/index.js', 'dist/types/index.d.ts', 'dist/cli.js', 'dist/schema-engine.js', 'dist/build.json']) expect(packed).toContain(f)
    for (const f of ['scripts/artstore-db.mjs', 'scripts/schema-engine.mjs', 'prisma/config.ts', 'prisma/admin/migrations/0_baseline/migration.sql']) {
      expect(packed).toContain(f)
    }
    expect(packed.filter((f) => /^(test|node_modules|\.artstore|docs)\//.test(f))).toEqual([])
    const manifest = JSON.parse(fs.readFileSync(path.join(installed, 'package.json'), 'utf8'))
    expect(manifest.exports['.']).toEqual({ types: './dist/types/index.d.ts', import: './dist/index.js' })
  })

  test("import('artstore-db') resolves to dist/index.js and gives every command as a function", () => {
    const r = inConsumer(
      `const m = await import('artstore-db')
       console.log(JSON.stringify({ resolved: import.meta.resolve('artstore-db'), types: Object.fromEntries(Object.entries(m).map(([k, v]) => [k, typeof v])) }))`,
    ) as { resolved: string; types: Record<string, string> }
    expect(r.resolved).toBe(`file://${installed}/dist/index.js`)
    for (const name of ['info', 'deploy', 'status', 'verify', 'rollback', 'resolve', 'cycle', 'baseline', 'migrateNew', 'migrateCheck', 'adopt', 'restore']) {
      expect(r.types[name], name).toBe('function')
    }
    for (const name of ['archive', 'verifyArchives', 'rebuildCache', 'studio', 'maskSecrets', 'runFleet', 'readInstancesFile', 'isArtstoreError']) {
      expect(r.types[name], name).toBe('function')
    }
  })

  test('real calls: info against the test server, and a UsageError for an unknown module', () => {
    const r = inConsumer(
      `const { info, deploy, UsageError } = await import('artstore-db')
       const i = await info({ module: 'admin', env: { ADMIN_DATABASE_URL: process.env.URL } })
       const e = await deploy({ module: 'nope', env: {} }).catch((e) => e)
       console.log(JSON.stringify({ modules: i.modules, usage: e instanceof UsageError, exitCode: e.exitCode, message: e.message }))`,
      { URL: url },
    ) as { modules: { module: string; server: string; source: string }[]; usage: boolean; exitCode: number; message: string }
    expect(r.modules).toHaveLength(1)
    expect(r.modules[0]).toMatchObject({ module: 'admin', source: 'ADMIN_DATABASE_URL' })
    expect(r.modules[0].server).toMatch(/^PostgreSQL \d+/)
    expect(r).toMatchObject({ usage: true, exitCode: 2 })
    expect(r.message).toMatch(/^unknown module "nope": use one of admin, storage-element, query/)
  })

  test("the package's command line runs from its built dist/, although npm dates every file at the install", () => {
    const fresh = inConsumer(
      `const { builtIsFresh } = await import('./node_modules/artstore-db/scripts/entry.mjs')
       console.log(JSON.stringify(builtIsFresh()))`,
    )
    expect(fresh).toBe(true)
    const run = spawnSync(process.execPath, [path.join(installed, 'scripts', 'artstore-db.mjs'), 'info', '--module', 'admin', '--json'], {
      cwd: consumer,
      env: { ...programEnv(), ADMIN_DATABASE_URL: url },
      encoding: 'utf8',
    })
    expect(run.status, run.stdout + run.stderr).toBe(0)
    expect(JSON.parse(run.stdout).engine.executable).toBe(path.join(installed, 'scripts', 'schema-engine.mjs'))
  })

  test("the declarations resolve: a TypeScript program of the scratch project type-checks against the package's types", () => {
    fs.writeFileSync(
      path.join(consumer, 'check.ts'),
      [
        "import { deploy, info, UsageError, type Info, type ModuleDeployResult } from 'artstore-db'",
        "const results: ModuleDeployResult[] = await deploy({ module: 'admin', dryRun: true })",
        "const about: Info = await info({ module: 'admin' })",
        // Were the types missing or `any`, these two lines would not be errors, and tsc would say so.
        '// @ts-expect-error deploy takes options, not a module name',
        "await deploy('admin')",
        '// @ts-expect-error a deploy status is one of the known ones',
        "const wrong: (typeof results)[number]['status'] = 'nope'",
        'export { about, UsageError, wrong }',
        '',
      ].join('\n'),
    )
    const compilerOptions = {
      target: 'ES2022',
      module: 'NodeNext',
      moduleResolution: 'NodeNext',
      strict: true,
      noEmit: true,
      skipLibCheck: true,
      types: ['node'],
      typeRoots: [path.join(projectRoot, 'node_modules', '@types')],
    }
    fs.writeFileSync(path.join(consumer, 'tsconfig.json'), JSON.stringify({ compilerOptions, files: ['check.ts'] }))
    const tsc = spawnSync(process.execPath, [path.join(projectRoot, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json'], {
      cwd: consumer,
      encoding: 'utf8',
    })
    expect(tsc.stdout + tsc.stderr).toBe('')
    expect(tsc.status).toBe(0)
  })
})
