import { h } from 'preact'
import type { Membership } from './api.ts'

/** One merchant the user may act for, with every role they hold there. */
export type MerchantChoice = {
  merchantId: string
  merchantName: string | null
  roles: string[]
  scopes: string[]
}

/**
 * The user's memberships grouped per merchant (a user may hold several roles at one), in the server's order.
 *
 * @example
 * merchantChoices([{ merchantId: 'mer_1', merchantName: 'Shop', role: 'viewer', scopes: ['payments:read'] }])
 * // [{ merchantId: 'mer_1', merchantName: 'Shop', roles: ['viewer'], scopes: ['payments:read'] }]
 */
export function merchantChoices(memberships: readonly Membership[]): MerchantChoice[] {
  const byId = new Map<string, MerchantChoice>()
  for (const m of memberships) {
    const choice = byId.get(m.merchantId) ?? {
      merchantId: m.merchantId,
      merchantName: m.merchantName,
      roles: [],
      scopes: [],
    }
    if (!choice.roles.includes(m.role)) choice.roles.push(m.role)
    for (const scope of m.scopes) if (!choice.scopes.includes(scope)) choice.scopes.push(scope)
    byId.set(m.merchantId, choice)
  }
  return [...byId.values()]
}

/**
 * The merchant picker, shown when the user holds roles at several merchants: one button per merchant.
 *
 * @example
 * h(MerchantPicker, { choices, onPick: (id) => setMerchantId(id) })
 */
export function MerchantPicker(props: { choices: MerchantChoice[]; onPick: (merchantId: string) => void }) {
  return h(
    'main',
    { class: 'picker' },
    h('h1', null, 'Choose a merchant'),
    props.choices.length === 0
      ? h('p', null, 'You hold no role at any merchant yet: ask an administrator for one.')
      : h(
          'ul',
          { class: 'cards' },
          props.choices.map((choice) =>
            h(
              'li',
              { key: choice.merchantId },
              h(
                'button',
                { type: 'button', class: 'choice', onClick: () => props.onPick(choice.merchantId) },
                h('span', { class: 'choice-name' }, choice.merchantName ?? choice.merchantId),
                h('span', { class: 'choice-role' }, choice.roles.join(', ')),
              ),
            ),
          ),
        ),
  )
}
