import { describe, expect, test } from 'bun:test'
import { bucketText, volumeSeries, volumeWindow } from './overview-volume.ts'

// The overview's volume: the window the page asks for and the chart's lines drawn from the API's exact points.

describe('volume window and series', () => {
  test('default: the last 30 UTC days by day, the current one last; 24 hours by hour', () => {
    const now = new Date('2025-03-11T10:30:00Z')
    const days = volumeWindow('DAY', now)
    expect(days.buckets).toHaveLength(30)
    expect(days.from.toISOString()).toBe('2025-02-10T00:00:00.000Z')
    expect(days.to).toBe(now)
    expect(new Date(days.buckets.at(-1)! * 1000).toISOString()).toBe('2025-03-11T00:00:00.000Z')
    const hours = volumeWindow('HOUR', now)
    expect(hours.buckets).toHaveLength(24)
    expect(hours.from.toISOString()).toBe('2025-03-10T11:00:00.000Z')
  })

  test('behavior: one line per asset, a value per bucket, zero where nothing completed', () => {
    const range = volumeWindow('DAY', new Date('2025-03-11T10:30:00Z'))
    const series = volumeSeries(
      [
        {
          bucketStart: '2025-03-10T00:00:00.000Z',
          chain: 'devnet',
          asset: { symbol: 'ETH' },
          amount: '1.000000000000000001',
          count: 1,
        },
        {
          bucketStart: '2025-03-11T00:00:00.000Z',
          chain: 'devnet',
          asset: { symbol: 'USDT' },
          amount: '1.5',
          count: 1,
        },
        {
          bucketStart: '2025-03-11T00:00:00.000Z',
          chain: 'devnet',
          asset: { symbol: 'ETH' },
          amount: '2',
          count: 1,
        },
      ],
      range,
    )
    expect(series.map((s) => s.label)).toEqual(['ETH on devnet', 'USDT on devnet'])
    expect(series[0]?.values.slice(-3)).toEqual([0, 1, 2])
    expect(series[1]?.values.slice(-2)).toEqual([0, 1.5])
    expect(series[0]?.values.filter((v) => v === 0)).toHaveLength(28)
  })

  test('edge: bucket starts read in UTC, by day or by hour', () => {
    expect(bucketText('2025-03-11T00:00:00.000Z', 'DAY')).toBe('2025-03-11')
    expect(bucketText('2025-03-11T10:00:00.000Z', 'HOUR')).toBe('2025-03-11 10:00 UTC')
  })
})
