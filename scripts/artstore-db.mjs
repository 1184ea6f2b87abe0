#!/usr/bin/env node
// The artstore-db command line (package bin). All logic lives in src/cli/main.ts; this file only loads
// it, from the built bundle when it is fresh (see scripts/entry.mjs).
import { importEntry } from './entry.mjs'

const { main } = await importEntry('cli', 'src/cli/main.ts')
// An explicit exit: nothing left open (a pool, a timer) may keep a finished command waiting.
process.exit(await main(process.argv.slice(2)))
