import { assetById } from '../core/chains.ts'
import { formatAmount } from '../core/money.ts'
import {
  addMultisigSignature,
  cancelMultisigProposal,
  getMultisigProposal,
  listMultisigProposals,
  proposeTransfer,
} from '../core/payouts/multisig.ts'
import { withdrawalTxHash } from '../core/payouts/withdrawals.ts'
import { type MultisigProposalRow, multisigStatuses } from '../db/schema/index.ts'
import { builder } from './builder.ts'
import { AssetRef } from './chains.ts'
import { afterId, toConnection } from './connection.ts'
import { requireScope } from './context.ts'
import { connectionCost, defaultPageSize, readCost } from './cost.ts'
import { userErrors } from './errors.ts'

const MultisigStatusEnum = builder.enumType('MultisigStatus', {
  values: multisigStatuses,
  description:
    'SIGNING: owners add signatures; READY: enough signed, the next payout pass executes it; EXECUTING: its transaction is on its way; CONFIRMED; FAILED; CANCELED before it was executed',
})

export const MultisigProposalRef = builder.objectRef<MultisigProposalRow>('MultisigProposal').implement({
  description:
    'A transfer out of a chain’s multisig cold wallet, signed by its owners, then executed by the gateway.',
  fields: (t) => ({
    id: t.exposeID('id'),
    status: t.field({ type: MultisigStatusEnum, resolve: (p) => p.status }),
    chain: t.exposeString('chain'),
    asset: t.field({ type: AssetRef, resolve: (p, _a, ctx) => assetById(ctx.app.chains, p.chain, p.asset) }),
    wallet: t.exposeString('wallet', { description: 'The multisig wallet’s address' }),
    to: t.exposeString('toAddress'),
    destination: t.string({
      description: 'treasury (back into the hot wallet) or external (the operator’s own address)',
      resolve: (p) => p.destination,
    }),
    amount: t.string({
      description: 'Decimal string in whole units',
      resolve: (p, _a, ctx) => formatAmount(p.amount, assetById(ctx.app.chains, p.chain, p.asset).decimals),
    }),
    toSign: t.exposeString('toSign', {
      description:
        'What each owner signs: the EIP-712 digest of the Safe transaction (EVM; sign with your wallet or `tollgate multisig sign`), or the unsigned PSBT in base64 (Bitcoin; `tollgate psbt sign`)',
    }),
    payload: t.field({
      type: 'JSON',
      description:
        'The draft as the chain driver keeps it (the Safe transaction’s fields; the PSBT with the signatures so far)',
      resolve: (p) => p.payload,
    }),
    threshold: t.exposeInt('threshold'),
    signers: t.stringList({ description: 'Owners who have signed', resolve: (p) => p.signers }),
    signaturesMissing: t.int({ resolve: (p) => Math.max(0, p.threshold - p.signers.length) }),
    txHash: t.string({
      nullable: true,
      complexity: readCost,
      resolve: (p, _a, ctx) => withdrawalTxHash(ctx.app, p),
    }),
    failureReason: t.string({ nullable: true, resolve: (p) => p.failureReason }),
    createdAt: t.field({ type: 'DateTime', resolve: (p) => p.createdAt }),
    updatedAt: t.field({ type: 'DateTime', resolve: (p) => p.updatedAt }),
  }),
})

builder.queryField('multisigProposal', (t) =>
  t.field({
    type: MultisigProposalRef,
    nullable: true,
    description: 'One of your multisig proposals (needs admin); null for an unknown id',
    args: { id: t.arg.id({ required: true }) },
    resolve: async (_root, { id }, ctx) => {
      const auth = await requireScope(ctx, 'admin')
      return (await getMultisigProposal(ctx.app, auth.merchantId, String(id))) ?? null
    },
  }),
)

builder.queryField('multisigProposals', (t) =>
  t.connection({
    type: MultisigProposalRef,
    description: 'Your multisig proposals, newest first (needs admin)',
    args: { status: t.arg({ type: MultisigStatusEnum }), chain: t.arg.string() },
    complexity: connectionCost,
    resolve: async (_root, args, ctx) => {
      const auth = await requireScope(ctx, 'admin')
      const after = afterId(args, 'msp')
      const first = args.first ?? defaultPageSize
      return toConnection(
        await listMultisigProposals(ctx.app, auth.merchantId, {
          first,
          after,
          status: args.status,
          chain: args.chain,
        }),
        after,
      )
    },
  }),
)

const ProposeTransferInput = builder.inputType('ProposeTransferInput', {
  fields: (t) => ({
    chain: t.string({ required: true }),
    asset: t.string({ required: true, description: 'Asset symbol or CAIP-19 id' }),
    to: t.string({ required: true, description: 'The treasury’s address, or any address of the chain' }),
    amount: t.string({ required: true, description: 'Decimal string in whole units' }),
    idempotencyKey: t.string({ required: true }),
  }),
})

const ProposeTransferPayload = builder
  .objectRef<{ proposal: MultisigProposalRow; replayed: boolean }>('ProposeTransferPayload')
  .implement({
    fields: (t) => ({
      proposal: t.field({ type: MultisigProposalRef, resolve: (r) => r.proposal }),
      replayed: t.exposeBoolean('replayed'),
    }),
  })

builder.mutationField('proposeTransfer', (t) =>
  t.field({
    type: ProposeTransferPayload,
    description:
      'Drafts a transfer out of a chain’s multisig cold wallet for its owners to sign (needs admin). Audited; webhook multisig.proposed',
    errors: userErrors('ProposeTransferResult'),
    args: { input: t.arg({ type: ProposeTransferInput, required: true }) },
    resolve: async (_root, { input }, ctx) => {
      const auth = await requireScope(ctx, 'admin')
      return proposeTransfer(ctx.app, auth.merchantId, input, { keyId: auth.keyId, requestId: ctx.requestId })
    },
  }),
)

builder.mutationField('addSignature', (t) =>
  t.field({
    type: MultisigProposalRef,
    description:
      'Adds an owner’s signature to a proposal (needs admin): a 65-byte hex EIP-712 signature (EVM) or a PSBT with partial signatures (Bitcoin). Not an owner’s valid signature: INVALID_SIGNATURE. At the threshold it is READY and executed by the next payout pass. Audited',
    errors: userErrors('AddSignatureResult'),
    args: { proposalId: t.arg.id({ required: true }), signature: t.arg.string({ required: true }) },
    resolve: async (_root, { proposalId, signature }, ctx) => {
      const auth = await requireScope(ctx, 'admin')
      return addMultisigSignature(ctx.app, auth.merchantId, String(proposalId), signature, {
        keyId: auth.keyId,
        requestId: ctx.requestId,
      })
    },
  }),
)

builder.mutationField('cancelProposal', (t) =>
  t.field({
    type: MultisigProposalRef,
    description: 'Cancels a proposal not executed yet (needs admin). Audited',
    errors: userErrors('CancelProposalResult'),
    args: { id: t.arg.id({ required: true }) },
    resolve: async (_root, { id }, ctx) => {
      const auth = await requireScope(ctx, 'admin')
      return cancelMultisigProposal(ctx.app, auth.merchantId, String(id), {
        keyId: auth.keyId,
        requestId: ctx.requestId,
      })
    },
  }),
)
