#!/usr/bin/env node
// The executable the Prisma CLI spawns through PRISMA_SCHEMA_ENGINE_BINARY (see src/engine/main.ts),
// loaded from the built bundle when it is fresh (see scripts/entry.mjs).
import { importEntry } from './entry.mjs'

await importEntry('schema-engine', 'src/engine/main.ts')
