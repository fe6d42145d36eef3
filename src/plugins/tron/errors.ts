import { DriverError } from '@tollgate/sdk'

/** What `/wallet/broadcasthex` (and `/wallet/broadcasttransaction`) answer. */
export type TronBroadcastResult = { result?: boolean; code?: string; message?: string; txid?: string }

/**
 * The text of a java-tron `message`: `broadcasttransaction` hex-encodes it (visible = false), `broadcasthex`
 * sends it as text. Hex that decodes to printable UTF-8 is decoded; anything else is returned as is.
 *
 * @example
 * nodeMessage('5461706f7320636865636b206572726f722e') // 'Tapos check error.'
 */
export function nodeMessage(message: string | undefined): string {
  if (!message) return ''
  if (/^([0-9a-fA-F]{2})+$/.test(message)) {
    const text = Buffer.from(message, 'hex').toString('utf8')
    // biome-ignore lint/suspicious/noControlCharactersInRegex: printable check
    if (!/[\u0000-\u0008\u000e-\u001f\ufffd]/.test(text)) return text
  }
  return message
}

const refused = (code: string, text: string, retryable: boolean) =>
  new DriverError(code, `broadcast refused: ${code}${text ? `: ${text}` : ''}`, { retryable })

/**
 * Maps a java-tron broadcast answer (`GrpcAPI.Return.response_code`) to the driver's outcome: `null` when the
 * node took the transaction or already has it, else the `DriverError` to throw.
 *
 * - `SUCCESS`, `DUP_TRANSACTION_ERROR` (the node knows these bytes already: a retry) → null
 * - `TAPOS_ERROR`, `TRANSACTION_EXPIRATION_ERROR` → `EXPIRED`, not retryable: these bytes can never be included
 *   (the reference block is unknown or the expiration passed); the transaction must be built again
 * - `BANDWITH_ERROR` and a `CONTRACT_VALIDATE_ERROR` about an insufficient balance → `INSUFFICIENT_FUNDS`,
 *   retryable (the same bytes pass once the sender is funded, until they expire)
 * - `SIGERROR`, `CONTRACT_VALIDATE_ERROR`, `CONTRACT_EXE_ERROR`, `TOO_BIG_TRANSACTION_ERROR` → that code, not
 *   retryable
 * - `SERVER_BUSY`, `NO_CONNECTION`, `NOT_ENOUGH_EFFECTIVE_CONNECTION`, `BLOCK_UNSOLIDIFIED`, `OTHER_ERROR` and
 *   unknown codes → that code, retryable
 *
 * @example
 * broadcastOutcome({ code: 'SIGERROR', message: '56616c…' }) // DriverError SIGERROR, retryable false
 */
export function broadcastOutcome(res: TronBroadcastResult): DriverError | null {
  const code = res.code ?? (res.result ? 'SUCCESS' : 'OTHER_ERROR')
  const text = nodeMessage(res.message)
  if (res.result === true || code === 'SUCCESS' || code === 'DUP_TRANSACTION_ERROR') return null
  switch (code) {
    case 'TAPOS_ERROR':
    case 'TRANSACTION_EXPIRATION_ERROR':
      return new DriverError('EXPIRED', `broadcast refused: ${code}: ${text}`, { retryable: false })
    case 'BANDWITH_ERROR':
      return new DriverError('INSUFFICIENT_FUNDS', `broadcast refused: ${code}: ${text}`, { retryable: true })
    case 'CONTRACT_VALIDATE_ERROR':
      if (/balance is not sufficient|insufficient balance|balance.*(not enough|insufficient)/i.test(text))
        return new DriverError('INSUFFICIENT_FUNDS', `broadcast refused: ${code}: ${text}`, {
          retryable: true,
        })
      return refused(code, text, false)
    case 'SIGERROR':
    case 'CONTRACT_EXE_ERROR':
    case 'TOO_BIG_TRANSACTION_ERROR':
      return refused(code, text, false)
    default:
      return refused(code, text, true)
  }
}
