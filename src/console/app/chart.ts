import { h } from 'preact'
import { useEffect, useRef } from 'preact/hooks'
import uPlot from 'uplot'

// A time-series chart drawn by uPlot on a canvas, sized to its box (it follows the box's width as the window
// changes). uPlot positions its own elements through element.style from script (CSSOM), which the console's CSP
// (style-src 'self') allows; its stylesheet is bundled with the console's (overview.css imports it). The chart
// is a picture for sighted readers only: every page that shows one also shows its exact figures as text.

/** One line of a chart: its legend label and a value per time (null where there is none). */
export type ChartSeries = { label: string; values: Array<number | null> }

/** The colours of the series, in order (then again); each readable on white at 3:1 or more. */
export const seriesColours = ['#1d4ed8', '#b45309', '#047857', '#a21caf', '#b91c1c', '#0e7490', '#4d7c0f']

const chartHeight = 240

/**
 * A line chart of `series` over `times` (Unix seconds), axes in UTC. `label` describes it to assistive
 * technology (the canvas is one image to them); point them to the text alternative there.
 *
 * @example
 * h(TimeChart, { label: 'Volume per day; the figures are in the table below', times, series })
 */
export function TimeChart(props: { label: string; times: number[]; series: ChartSeries[] }) {
  const box = useRef<HTMLDivElement>(null)
  useEffect(() => {
    const el = box.current
    if (!el) return
    const width = () => Math.max(200, el.clientWidth)
    const plot = new uPlot(
      {
        width: width(),
        height: chartHeight,
        tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), 'Etc/UTC'),
        legend: { live: false },
        cursor: { drag: { x: false, y: false } },
        scales: { y: { range: (_u, min, max) => [Math.min(0, min), max > 0 ? max * 1.1 : 1] } },
        axes: [
          { stroke: '#374151', grid: { stroke: '#e5e7eb' } },
          { stroke: '#374151', grid: { stroke: '#e5e7eb' }, size: 60 },
        ],
        series: [
          {},
          ...props.series.map((s, i) => ({
            label: s.label,
            stroke: seriesColours[i % seriesColours.length],
            width: 2,
            points: { show: true, size: 6 },
          })),
        ],
      },
      [props.times, ...props.series.map((s) => s.values)],
      el,
    )
    const resize = new ResizeObserver(() => {
      if (plot.width !== width()) plot.setSize({ width: width(), height: chartHeight })
    })
    resize.observe(el)
    return () => {
      resize.disconnect()
      plot.destroy()
    }
  }, [props.times, props.series])
  return h('div', { class: 'chart', ref: box, role: 'img', 'aria-label': props.label })
}
