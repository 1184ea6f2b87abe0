#!/usr/bin/env node
// The artstore-db command line (package bin). All logic lives in src/cli/main.ts.
import { register } from 'tsx/esm/api'

register()
const { main } = await import('../src/cli/main.ts')
process.exitCode = await main(process.argv.slice(2))
