#!/usr/bin/env node
// The executable the Prisma CLI spawns through PRISMA_SCHEMA_ENGINE_BINARY (see src/engine/main.ts).
import { register } from 'tsx/esm/api'

register()
await import('../src/engine/main.ts')
