// Runs every benchmark script in turn and writes their tables into BENCHMARKS.md.
import { readdirSync } from 'node:fs'
import { join } from 'node:path'
import { resultMarker } from './lib.ts'

const helpers = new Set(['index.ts', 'lib.ts', 'loadgen.ts'])
const only = process.argv.slice(2)
const scripts = readdirSync(import.meta.dir)
  .filter((f) => f.endsWith('.ts') && !helpers.has(f))
  .filter((f) => only.length === 0 || only.some((o) => f.includes(o)))
  .sort()

const sections: string[] = []
for (const script of scripts) {
  console.log(`running bench/${script} …`)
  const proc = Bun.spawn(['bun', join(import.meta.dir, script)], { stdout: 'pipe', stderr: 'inherit' })
  const out = await new Response(proc.stdout).text()
  if ((await proc.exited) !== 0) throw new Error(`bench/${script} failed`)
  const section = out.split(resultMarker)[1]?.trim()
  if (!section) throw new Error(`bench/${script} printed no result`)
  console.log(`${section}\n`)
  sections.push(section)
}

const machine = `${navigator.hardwareConcurrency} cores, Bun ${Bun.version}, ${process.platform}/${process.arch}`
await Bun.write(
  join(import.meta.dir, '..', 'BENCHMARKS.md'),
  `# Benchmarks

Produced by \`bun run bench\` (this file is rewritten by it). Each benchmark compares against a ceiling or
baseline measured in the same run on the same machine, so the ratios carry over between machines; absolute numbers
do not. Last run: ${new Date().toISOString().slice(0, 10)}, ${machine}, Postgres and Redis on the same machine.

${sections.join('\n\n')}
`,
)
console.log('wrote BENCHMARKS.md')
