import { encode } from 'uqr'
import { escapeHtml } from './html.ts'

/**
 * A QR code of `text` as a compact SVG: each row's dark runs become one path segment, which keeps a wallet URI's
 * code to a few kilobytes (a path per module would be ten times that on a phone's connection).
 *
 * @example
 * qrSvg('ethereum:0xabc…@1?value=1e18', { label: 'QR code of the payment link' })
 */
export function qrSvg(text: string, options: { label?: string } = {}): string {
  const { data, size } = encode(text, { ecc: 'M', border: 0 })
  const quiet = 4 // modules of light margin a scanner needs around the code
  const runs: string[] = []
  for (let y = 0; y < size; y++) {
    const row = data[y] as boolean[]
    let x = 0
    while (x < size) {
      if (!row[x]) {
        x++
        continue
      }
      const start = x
      while (x < size && row[x]) x++
      runs.push(`M${start + quiet} ${y + quiet}h${x - start}v1h${start - x}z`)
    }
  }
  const extent = size + quiet * 2
  const label = options.label
    ? ` role="img" aria-label="${escapeHtml(options.label)}"`
    : ' aria-hidden="true"'
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${extent} ${extent}" shape-rendering="crispEdges"${label}>` +
    `<rect width="${extent}" height="${extent}" fill="#fff"/><path fill="#000" d="${runs.join('')}"/></svg>`
  )
}
