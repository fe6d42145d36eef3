/**
 * Runs `fn` over `items` with at most `limit` calls in flight, keeping the order of the results; the first
 * failure stops new calls and rejects. Drivers use it to fetch block ranges in parallel without flooding a node.
 *
 * @example
 * const blocks = await mapLimit(heights, 6, (h) => fetchBlock(h))
 */
export async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<R>,
): Promise<R[]> {
  const out = new Array<R>(items.length)
  let next = 0
  let failed = false
  const workers = Array.from({ length: Math.min(Math.max(1, limit), items.length) }, async () => {
    while (!failed && next < items.length) {
      const i = next++
      try {
        out[i] = await fn(items[i] as T)
      } catch (err) {
        failed = true
        throw err
      }
    }
  })
  await Promise.all(workers)
  return out
}
