import { h } from 'preact'
import { useMemo, useState } from 'preact/hooks'
import { type ChartSeries, TimeChart } from './chart.ts'
import { type Query, Show, useLoaded } from './ui.ts'

// The volume of a merchant's completed payments over time: a chart (one line per asset) and the same figures
// exactly, as a table. The API answers exact decimal strings; they become floats only to be drawn.

/** A bucket's width, as the API's VolumeInterval names it. */
export type VolumeInterval = 'DAY' | 'HOUR'

/** One bucket of one asset, as `overview { volume }` answers it. */
export type VolumePoint = {
  bucketStart: string
  chain: string
  asset: { symbol: string }
  amount: string
  count: number
}

/** What the page asks for: the last 30 days by day, or the last 24 hours by hour, the current bucket included. */
export type VolumeWindow = { interval: VolumeInterval; from: Date; to: Date; buckets: number[] }

const bucketMs: Record<VolumeInterval, number> = { DAY: 86_400_000, HOUR: 3_600_000 }
const bucketCount: Record<VolumeInterval, number> = { DAY: 30, HOUR: 24 }

/**
 * The range a volume query covers at `now`: whole UTC buckets, the last of them holding `now`; `buckets` are
 * their starts in Unix seconds (the chart's times).
 *
 * @example
 * volumeWindow('HOUR', new Date('2025-03-11T10:30:00Z')).from // 2025-03-10T11:00:00Z (24 hours, 10:00 the last)
 */
export function volumeWindow(interval: VolumeInterval, now: Date): VolumeWindow {
  const width = bucketMs[interval]
  const last = Math.floor(now.getTime() / width) * width
  const first = last - (bucketCount[interval] - 1) * width
  const buckets = Array.from({ length: bucketCount[interval] }, (_, i) => (first + i * width) / 1000)
  return { interval, from: new Date(first), to: now, buckets }
}

/** How a volume point's asset is named on the page: its symbol on its chain. */
export const assetLabel = (p: Pick<VolumePoint, 'chain' | 'asset'>) => `${p.asset.symbol} on ${p.chain}`

/**
 * The chart's lines: one per asset (in the order assets first appear), a value per bucket of `range`, zero
 * where nothing completed. The amounts become floats here, for drawing only.
 *
 * @example
 * volumeSeries(points, volumeWindow('DAY', new Date()))
 * // [{ label: 'ETH on devnet', values: [0, 0, …, 1.5] }]
 */
export function volumeSeries(points: VolumePoint[], range: VolumeWindow): ChartSeries[] {
  const index = new Map(range.buckets.map((t, i) => [t, i]))
  const series = new Map<string, ChartSeries>()
  for (const p of points) {
    const label = assetLabel(p)
    let line = series.get(label)
    if (!line) {
      line = { label, values: range.buckets.map(() => 0) }
      series.set(label, line)
    }
    const at = index.get(new Date(p.bucketStart).getTime() / 1000)
    if (at !== undefined) line.values[at] = (line.values[at] ?? 0) + Number(p.amount)
  }
  return [...series.values()]
}

/**
 * A bucket's start as text, in UTC as the buckets are: the date by day, the date and hour by hour.
 *
 * @example
 * bucketText('2025-03-11T10:00:00.000Z', 'HOUR') // '2025-03-11 10:00 UTC'
 */
export function bucketText(iso: string, interval: VolumeInterval): string {
  return interval === 'DAY' ? iso.slice(0, 10) : `${iso.slice(0, 10)} ${iso.slice(11, 16)} UTC`
}

// one line in the bundle: the minified script keeps template literals' line breaks
const volumeQuery = [
  'query ($interval: VolumeInterval!, $from: DateTime!, $to: DateTime!) {',
  'overview { volume(interval: $interval, from: $from, to: $to) { bucketStart chain asset { symbol } amount count } }',
  '}',
].join(' ')

function VolumeTable(props: { points: VolumePoint[]; interval: VolumeInterval }) {
  // newest first: the figures a reader looks for are the latest
  const rows = [...props.points].reverse()
  return h(
    'div',
    { class: 'table-wrap' },
    h(
      'table',
      { class: 'volume-table' },
      h('caption', null, 'Completed payments per bucket and asset, exact amounts'),
      h(
        'thead',
        null,
        h(
          'tr',
          null,
          h('th', { scope: 'col' }, props.interval === 'DAY' ? 'Day (UTC)' : 'Hour (UTC)'),
          h('th', { scope: 'col' }, 'Asset'),
          h('th', { scope: 'col' }, 'Amount'),
          h('th', { scope: 'col' }, 'Payments'),
        ),
      ),
      h(
        'tbody',
        null,
        rows.map((p) =>
          h(
            'tr',
            { key: `${p.bucketStart} ${p.chain} ${p.asset.symbol}` },
            h('td', null, bucketText(p.bucketStart, props.interval)),
            h('td', null, assetLabel(p)),
            h('td', { class: 'volume-amount' }, p.amount),
            h('td', null, String(p.count)),
          ),
        ),
      ),
    ),
  )
}

function VolumeFigures(props: { points: VolumePoint[]; range: VolumeWindow }) {
  const { points, range } = props
  const series = useMemo(() => volumeSeries(points, range), [points, range])
  const span = range.interval === 'DAY' ? 'the last 30 days' : 'the last 24 hours'
  if (points.length === 0) return h('p', { class: 'muted' }, `No payment completed in ${span}.`)
  const per = range.interval === 'DAY' ? 'day' : 'hour'
  return [
    h(TimeChart, {
      key: 'chart',
      label: `Chart of the amounts completed per ${per} in ${span}, one line per asset (${series.map((s) => s.label).join(', ')}). The exact figures are in the table below.`,
      times: range.buckets,
      series,
    }),
    h(VolumeTable, { key: 'table', points, interval: range.interval }),
  ]
}

/**
 * The volume section of the overview: by day or by hour (a switch), as a chart and as an exact table.
 *
 * @example
 * h(VolumeSection, { query })
 */
export function VolumeSection(props: { query: Query }) {
  const [interval, chooseInterval] = useState<VolumeInterval>('DAY')
  const range = useMemo(() => volumeWindow(interval, new Date()), [interval])
  const [volume] = useLoaded(
    props.query,
    volumeQuery,
    { interval, from: range.from.toISOString(), to: range.to.toISOString() },
    (d: { overview: { volume: VolumePoint[] } }) => ({ points: d.overview.volume, range }),
    interval,
  )
  const choice = (value: VolumeInterval, text: string) =>
    h(
      'button',
      { type: 'button', 'aria-pressed': interval === value, onClick: () => chooseInterval(value) },
      text,
    )
  return h(
    'section',
    { 'aria-labelledby': 'volume-title', class: 'volume' },
    h('h2', { id: 'volume-title' }, 'Volume of completed payments'),
    h(
      'div',
      { class: 'switch', role: 'group', 'aria-label': 'Volume interval' },
      choice('DAY', 'By day'),
      choice('HOUR', 'By hour'),
    ),
    h(Show<{ points: VolumePoint[]; range: VolumeWindow }>, {
      loaded: volume,
      what: 'Volume',
      render: (v) => h(VolumeFigures, v),
    }),
  )
}
