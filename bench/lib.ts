/** Shared helpers for the benchmark scripts. Each script prints one markdown section after `resultMarker`. */
export const resultMarker = '---BENCH-RESULT---'

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))
  return sorted[i] as number
}

export function median(values: readonly number[]): number {
  return percentile(
    [...values].sort((a, b) => a - b),
    50,
  )
}

export function table(headers: string[], rows: Array<Array<string | number>>): string {
  const line = (cells: Array<string | number>) => `| ${cells.join(' | ')} |`
  return [line(headers), line(headers.map(() => '---')), ...rows.map(line)].join('\n')
}

export const fmt = (n: number, digits = 1) => n.toFixed(digits)

/** Prints the section that `bench/index.ts` collects into BENCHMARKS.md. */
export function report(title: string, body: string): void {
  console.log(`${resultMarker}\n## ${title}\n\n${body}\n`)
}

export type LoadResult = {
  requests: number
  seconds: number
  rps: number
  p50: number
  p99: number
  errors: number
}

/**
 * Runs the HTTP load generator in a process of its own (so it does not share the server's event loop):
 * `concurrency` workers POST `body` until `requests` have been sent.
 */
export async function runLoad(a: {
  url: string
  body: string
  headers: Record<string, string>
  concurrency: number
  requests: number
}): Promise<LoadResult> {
  const proc = Bun.spawn(['bun', `${import.meta.dir}/loadgen.ts`, JSON.stringify(a)], {
    stdout: 'pipe',
    stderr: 'inherit',
  })
  const out = await new Response(proc.stdout).text()
  await proc.exited
  return JSON.parse(out.trim().split('\n').at(-1) as string)
}
