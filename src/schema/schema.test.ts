import { expect, test } from 'bun:test'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { printedSchema } from './index.ts'

test('behavior: the committed schema.graphql matches the schema (run `bun run schema:print` after a change)', () => {
  const committed = readFileSync(join(import.meta.dir, '../../schema.graphql'), 'utf8')
  expect(printedSchema()).toBe(committed)
})
