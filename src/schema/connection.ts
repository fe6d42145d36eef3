import { TollgateError } from '../core/errors.ts'

/**
 * Keyset pages over time-ordered prefixed ids (`pay_…`, `whd_…`): the cursor is the last id, base64url-encoded.
 * Only forward paging (first/after) is offered.
 */
export function afterId(
  args: { after?: string | null; before?: string | null; last?: number | null },
  prefix: string,
): string | null {
  if (args.last != null || args.before != null)
    throw new TollgateError('INVALID_INPUT', 'paginate forwards with first/after', 'last')
  if (!args.after) return null
  const id = Buffer.from(args.after, 'base64url').toString()
  if (!new RegExp(`^${prefix}_[0-9a-f]{32}$`).test(id))
    throw new TollgateError('INVALID_INPUT', 'after is not a cursor from this API', 'after')
  return id
}

/** A Relay connection from one page of rows. */
export function toConnection<T extends { id: string }>(
  page: { rows: T[]; hasNextPage: boolean },
  after: string | null,
) {
  const edges = page.rows.map((node) => ({ cursor: Buffer.from(node.id).toString('base64url'), node }))
  return {
    edges,
    pageInfo: {
      hasNextPage: page.hasNextPage,
      hasPreviousPage: after !== null,
      startCursor: edges[0]?.cursor ?? null,
      endCursor: edges.at(-1)?.cursor ?? null,
    },
  }
}
