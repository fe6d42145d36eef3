/**
 * A sleep that `ring` cuts short, for every sleeper at once; a ring while nobody sleeps cuts the next sleep short,
 * so none is lost.
 *
 * @example
 * const wake = alarm()
 * await wake.sleep(1000) // returns early once wake.ring() is called
 */
export function alarm() {
  let rung = false
  const sleepers = new Set<() => void>()
  return {
    ring() {
      if (sleepers.size === 0) rung = true
      for (const wake of [...sleepers]) wake()
    },
    async sleep(ms: number) {
      if (rung) {
        rung = false
        return
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, ms)
        function done() {
          clearTimeout(timer)
          sleepers.delete(done)
          resolve()
        }
        sleepers.add(done)
      })
    },
  }
}
