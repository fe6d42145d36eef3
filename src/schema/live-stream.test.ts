import { describe, expect, test } from 'bun:test'
import { Repeater } from 'graphql-yoga'
import { waitFor } from '../../test/helpers/processes.ts'
import { type LiveItem, liveStream, liveValue } from './live-stream.ts'

/** Signals a test sends by hand; `listening` says whether the stream still listens to them. */
function signalSource() {
  let send: (value: unknown) => void = () => {}
  let end: () => void = () => {}
  let listening = false
  const signals = new Repeater<unknown>(async (push, stop) => {
    listening = true
    send = (v) => void push(v)
    end = () => stop()
    await stop
    listening = false
  })
  return {
    signals,
    send: (v: unknown) => send(v),
    end: () => end(),
    listening: () => listening,
  }
}

async function take<T>(stream: AsyncIterator<LiveItem<T>>) {
  const next = await stream.next()
  return next.done ? 'done' : next.value
}

describe('liveStream', () => {
  test('default: the first read at once, then a read per signal; undefined sends nothing, null ends the stream', async () => {
    const source = signalSource()
    const reads: unknown[] = []
    const answers: Array<number | undefined | null> = [1, undefined, 2, null]
    const stream = liveStream<number>({
      signals: source.signals,
      read: async (signal) => {
        reads.push(signal)
        return answers.shift()
      },
    })
    expect(await take(stream)).toEqual({ value: 1 })
    source.send('a')
    source.send('b')
    expect(await take(stream)).toEqual({ value: 2 })
    source.send('c')
    expect(await take(stream)).toBe('done')
    expect(reads).toEqual([undefined, 'a', 'b', 'c'])
    await waitFor('the stream to stop listening', () => !source.listening())
  })

  test('behavior: a client leaving while the stream waits for a signal ends it at once: it stops listening and releases once', async () => {
    const source = signalSource()
    let released = 0
    const stream = liveStream<number>({
      signals: source.signals,
      read: async () => 1,
      release: () => released++,
    })
    expect(await take(stream)).toEqual({ value: 1 })
    const pending = stream.next() // waits for a signal that never comes
    await stream.return?.()
    expect(await pending).toEqual({ done: true, value: undefined })
    await waitFor('the release', () => released === 1)
    await waitFor('the stream to stop listening', () => !source.listening())
    expect(released).toBe(1)
  })

  test('behavior: every value is rechecked before it is sent; a refusal is the last item, then the stream ends and releases', async () => {
    const source = signalSource()
    let allowed = true
    let released = 0
    const stream = liveStream<number>({
      signals: source.signals,
      read: async () => 7,
      recheck: async () => (allowed ? null : new Error('revoked')),
      release: () => released++,
    })
    expect(await take(stream)).toEqual({ value: 7 })
    allowed = false
    source.send('x')
    const last = await take(stream)
    expect(last).toEqual({ error: new Error('revoked') })
    expect(() => liveValue(last as LiveItem<number>)).toThrow('revoked')
    expect(await take(stream)).toBe('done')
    await waitFor('the release', () => released === 1)
  })

  test('behavior: a wake rechecks without reading or sending; a refusal then ends the stream without any signal', async () => {
    const source = signalSource()
    let wake: () => void = () => {}
    let unwatched = false
    let allowed = true
    let reads = 0
    let rechecks = 0
    const stream = liveStream<number>({
      signals: source.signals,
      read: async () => ++reads,
      recheck: async () => {
        rechecks++
        return allowed ? null : 'expired'
      },
      watch: (w) => {
        wake = w
        return () => {
          unwatched = true
        }
      },
    })
    expect(await take(stream)).toEqual({ value: 1 })
    // the client waits for the next value, as graphql-ws and SSE always do
    const next = take(stream)
    wake()
    await waitFor('the recheck', () => rechecks === 2)
    expect(reads).toBe(1)
    allowed = false
    wake()
    expect(await next).toEqual({ error: 'expired' })
    expect(await take(stream)).toBe('done')
    expect(reads).toBe(1)
    await waitFor('the watch to be stopped', () => unwatched)
  })

  test('behavior: a read that fails ends the stream with the error as its last item (for the resolver to mask)', async () => {
    const source = signalSource()
    let released = 0
    const failure = new Error('database away')
    let first = true
    const stream = liveStream<number>({
      signals: source.signals,
      read: async () => {
        if (first) {
          first = false
          return 1
        }
        throw failure
      },
      release: () => released++,
    })
    expect(await take(stream)).toEqual({ value: 1 })
    source.send('x')
    expect(await take(stream)).toEqual({ error: failure })
    expect(await take(stream)).toBe('done')
    await waitFor('the release', () => released === 1)
  })

  test('behavior: when the signals end, so does the stream', async () => {
    const source = signalSource()
    let released = 0
    const stream = liveStream<number>({
      signals: source.signals,
      read: async () => 1,
      release: () => released++,
    })
    expect(await take(stream)).toEqual({ value: 1 })
    source.end()
    expect(await take(stream)).toBe('done')
    await waitFor('the release', () => released === 1)
  })

  test('behavior: a stream the client leaves before ever pulling from it still releases (and reads nothing)', async () => {
    const source = signalSource()
    let released = 0
    let reads = 0
    const stream = liveStream<number>({
      signals: source.signals,
      read: async () => ++reads,
      release: () => released++,
    })
    await stream.return?.()
    expect(released).toBe(1)
    expect(await take(stream)).toBe('done')
    expect(reads).toBe(0)
    expect(released).toBe(1)
  })

  test('behavior: the caller is rechecked as soon as the stream starts listening, before any signal', async () => {
    const source = signalSource()
    let watching = false
    const stream = liveStream<number>({
      signals: source.signals,
      read: async () => undefined, // nothing to send before the first change, like paymentsUpdated
      recheck: async () => (watching ? 'revoked meanwhile' : null),
      watch: () => {
        // the revocation happened between the subscribe-time check and this watch
        watching = true
        return () => {}
      },
    })
    expect(await take(stream)).toEqual({ error: 'revoked meanwhile' })
    expect(await take(stream)).toBe('done')
  })
})
