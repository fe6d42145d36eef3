import type { PayoutOutput, UnsignedTx, WalletAddress } from '@tollgate/sdk'
import type { Tx } from '../../db/client.ts'
import { type OutboundRow, outboundTxs, type StoredRequest } from '../../db/schema/index.ts'
import type { LoadedChain } from '../../plugins/registry.ts'
import { newId } from '../ids.ts'

/**
 * Stores a built transaction as `built` (step 2 of invariant 5: persisted before anything signs it).
 *
 * @example
 * const id = await insertOutbound(tx, chain, { purpose: 'sweep', from, asset: asset.id, nonce, unsigned })
 */
export async function insertOutbound(
  tx: Tx,
  chain: LoadedChain,
  a: {
    purpose: OutboundRow['purpose']
    from: WalletAddress
    asset: string
    nonce: bigint | undefined
    unsigned: UnsignedTx
    request: StoredRequest
  },
): Promise<string> {
  const id = newId('otx')
  await tx.insert(outboundTxs).values({
    id,
    chain: chain.name,
    purpose: a.purpose,
    fromAddress: a.from.address,
    fromPath: a.from.path,
    asset: a.asset,
    nonce: a.nonce ?? null,
    status: 'built',
    unsigned: a.unsigned.payload,
    request: a.request,
    amount: a.unsigned.amounts?.reduce((sum, v) => sum + v, 0n) ?? null,
    amounts: a.unsigned.amounts?.map(String) ?? null,
    spends: a.unsigned.spends ? [...a.unsigned.spends] : null,
    changeVout: a.unsigned.change?.vout ?? null,
    changeAmount: a.unsigned.change?.amount ?? null,
    maxFee: a.unsigned.maxFee,
  })
  return id
}

/**
 * The part of a transfer request worth storing with it (bigints as strings): enough to rebuild it later.
 *
 * @example
 * storedTransfer({ outputs: [{ to, amount: 5n }] }) // { kind: 'transfer', outputs: [{ to, amount: '5' }] }
 */
export function storedTransfer(r: { outputs: readonly PayoutOutput[]; sweepAll?: boolean }): StoredRequest {
  return {
    kind: 'transfer',
    outputs: r.outputs.map((o) => ({ to: o.to, amount: o.amount.toString() })),
    ...(r.sweepAll ? { sweepAll: true } : {}),
  }
}
