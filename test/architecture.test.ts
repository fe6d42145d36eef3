import { describe, expect, test } from 'bun:test'
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'

// The import rules of docs/architecture.md, checked on the source itself: arrows flow one way
// (cli/server → schema/jobs/checkout → core rooms → kernel → db + plugin SDK), rooms call only the rooms their
// README names, drivers import only the SDK, and no file imports itself back through a circle.

const root = resolve(import.meta.dir, '..')
const src = join(root, 'src')

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name)
    if (statSync(path).isDirectory()) return sourceFiles(path)
    return /\.tsx?$/.test(name) && !/\.test\.tsx?$/.test(name) ? [path] : []
  })
}

const specifier = /(?:from|import)\s*\(?\s*['"]((?:\.{1,2}\/|@tollgate\/sdk)[^'"]*)['"]/g
const sdkPackage = join(root, 'packages', 'sdk', 'src')

/** An import as a node of the graph: a path relative to `src`, or `sdk/<module>` for the plugin SDK package. */
function target(file: string, spec: string): string {
  if (spec.startsWith('@tollgate/sdk')) return `sdk/${spec.slice('@tollgate/sdk/'.length) || 'index'}`
  const path = resolve(dirname(file), spec)
  return path.startsWith(sdkPackage)
    ? `sdk/${relative(sdkPackage, path).replace(/\.ts$/, '')}`
    : relative(src, path)
}

/** Every file of `src` (tests aside) with the files of `src` it imports, as paths relative to `src`. */
function importGraph(): Map<string, string[]> {
  const graph = new Map<string, string[]>()
  for (const file of sourceFiles(src)) {
    // comments may show imports in examples; only code draws arrows
    const text = readFileSync(file, 'utf8')
      .split('\n')
      .filter((line) => !/^\s*(\*|\/\/|\/\*)/.test(line))
      .join('\n')
    const targets = [...text.matchAll(specifier)].map((m) => target(file, m[1] as string))
    graph.set(relative(src, file), [...new Set(targets)])
  }
  return graph
}

const graph = importGraph()
const arrows = [...graph].flatMap(([from, targets]) => targets.map((to) => ({ from, to })))
const rooms = readdirSync(join(src, 'core')).filter((n) => statSync(join(src, 'core', n)).isDirectory())
const roomOf = (path: string) => (path.startsWith('core/') ? path.split('/')[1] : undefined)
const isKernel = (path: string) => path.startsWith('core/') && path.split('/').length === 2

/** The rooms a room's README allows it to call ("May call: a, b"; "(the kernel only)" allows none). */
function allowedRooms(room: string): string[] {
  const readme = readFileSync(join(src, 'core', room, 'README.md'), 'utf8')
  const line = /^May call: (.*)$/m.exec(readme)?.[1]
  if (line === undefined) throw new Error(`src/core/${room}/README.md has no "May call:" line`)
  return line.startsWith('(') ? [] : line.split(',').map((r) => r.trim())
}

describe('architecture', () => {
  test('default: the graph is read (sanity: the parser finds the known arrows)', () => {
    expect(graph.size).toBeGreaterThan(100)
    expect(arrows).toContainEqual({ from: 'core/scanning/sync.ts', to: 'core/scanning/deposits.ts' })
    expect(arrows).toContainEqual({ from: 'plugins/evm/index.ts', to: 'sdk/index' })
    expect(rooms.sort()).toEqual([
      'access',
      'compliance',
      'deposits',
      'ledger',
      'payments',
      'payouts',
      'pricing',
      'scanning',
      'webhooks',
    ])
  })

  test('behavior: every room has a README that says what it owns and which rooms it may call', () => {
    for (const room of rooms) {
      const readme = readFileSync(join(src, 'core', room, 'README.md'), 'utf8')
      expect(readme).toMatch(/^Owns: .+/m)
      for (const other of allowedRooms(room)) expect(rooms).toContain(other)
    }
  })

  test('behavior: a room imports only itself, the kernel and the rooms its README allows', () => {
    const wrong = arrows.filter(({ from, to }) => {
      const a = roomOf(from)
      const b = roomOf(to)
      if (!a || !b || isKernel(from) || isKernel(to) || a === b) return false
      return !allowedRooms(a).includes(b)
    })
    expect(wrong).toEqual([])
  })

  test('behavior: the kernel calls no room', () => {
    expect(
      arrows.filter(({ from, to }) => isKernel(from) && to.startsWith('core/') && !isKernel(to)),
    ).toEqual([])
  })

  test('behavior: the core imports only the core, the database and the plugin SDK (and the loaded chains)', () => {
    const allowed = (to: string) =>
      to.startsWith('core/') || to.startsWith('db/') || to.startsWith('sdk/') || to === 'plugins/registry.ts'
    expect(arrows.filter(({ from, to }) => from.startsWith('core/') && !allowed(to))).toEqual([])
  })

  test('behavior: plugins never import the gateway; drivers import only the SDK and their own folder', () => {
    const wrong = arrows.filter(({ from, to }) => {
      if (!from.startsWith('plugins/')) return false
      if (to.startsWith('sdk/')) return false
      if (!to.startsWith('plugins/')) return true
      const family = from.split('/')[1]
      return from.split('/').length === 2 || !to.startsWith(`plugins/${family}/`)
    })
    expect(wrong).toEqual([])
  })

  test('behavior: the plugin SDK package imports only itself and its own dependencies, never the gateway', () => {
    const files = readdirSync(sdkPackage).filter((n) => n.endsWith('.ts'))
    expect(files.length).toBeGreaterThan(5)
    const own = JSON.parse(readFileSync(join(root, 'packages', 'sdk', 'package.json'), 'utf8'))
    const allowed = new Set(Object.keys(own.dependencies ?? {}))
    const wrong = files.flatMap((name) =>
      [...readFileSync(join(sdkPackage, name), 'utf8').matchAll(/^import[^'"]*['"]([^'"]+)['"]/gm)]
        .map((m) => m[1] as string)
        .filter((spec) => {
          if (spec.startsWith('./')) return false
          if (spec.startsWith('bun:') || spec.startsWith('node:')) return false
          const pkg = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]
          return !allowed.has(pkg as string)
        })
        .map((spec) => `${name} → ${spec}`),
    )
    expect(wrong).toEqual([])
  })

  test('behavior: the database layer imports nothing above it', () => {
    expect(arrows.filter(({ from, to }) => from.startsWith('db/') && !to.startsWith('db/'))).toEqual([])
  })

  test('behavior: nothing below the callers imports jobs, schema, checkout, the server or the CLI', () => {
    const callers = (to: string) =>
      ['jobs/', 'schema/', 'checkout/'].some((p) => to.startsWith(p)) || ['server.ts', 'cli.ts'].includes(to)
    const below = (from: string) =>
      ['core/', 'db/', 'plugins/'].some((p) => from.startsWith(p)) ||
      ['context.ts', 'pubsub.ts', 'queues.ts', 'env.ts', 'log.ts', 'metrics.ts', 'health.ts'].includes(from)
    expect(arrows.filter(({ from, to }) => below(from) && callers(to))).toEqual([])
  })

  test('behavior: no import circle between files', () => {
    const circles: string[][] = []
    const state = new Map<string, 'open' | 'done'>()
    const stack: string[] = []
    const visit = (file: string) => {
      state.set(file, 'open')
      stack.push(file)
      for (const next of graph.get(file) ?? []) {
        if (state.get(next) === 'open') circles.push([...stack.slice(stack.indexOf(next)), next])
        else if (!state.has(next) && graph.has(next)) visit(next)
      }
      stack.pop()
      state.set(file, 'done')
    }
    for (const file of graph.keys()) if (!state.has(file)) visit(file)
    expect(circles).toEqual([])
  })
})
