import type { TestApp } from './app.ts'

/**
 * The multisig proposal mutations through the app's GraphQL API with `key`, on `chain`, each proposal read with
 * `fields`; both return the mutation's union (a payload, a proposal or a UserError with its __typename).
 *
 * @example
 * const { propose, addSignature } = proposalMutations(app, merchant.key, 'regtest', 'id status signers')
 */
export function proposalMutations(app: TestApp, key: string, chain: string, fields: string) {
  return {
    async propose(asset: string, to: string, amount: string, idempotencyKey: string) {
      const res = await app.gql(
        `mutation ($input: ProposeTransferInput!) { proposeTransfer(input: $input) {
      __typename ... on ProposeTransferPayload { replayed proposal { ${fields} } }
      ... on UserError { code field message } } }`,
        { input: { chain, asset, to, amount, idempotencyKey } },
        key,
      )
      return res.data.proposeTransfer
    },
    async addSignature(proposalId: string, signature: string) {
      const res = await app.gql(
        `mutation ($id: ID!, $signature: String!) { addSignature(proposalId: $id, signature: $signature) {
      __typename ... on MultisigProposal { ${fields} } ... on UserError { code field message } } }`,
        { id: proposalId, signature },
        key,
      )
      return res.data.addSignature
    },
  }
}
