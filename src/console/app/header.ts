import { h } from 'preact'

/**
 * The bar over every signed-in page: who is signed in, their role at the merchant they act for, a way to switch
 * merchant (when they hold roles at several) and to sign out.
 *
 * @example
 * h(Header, { name: 'Ada', roles: ['viewer'], merchantName: 'Shop', onSwitch: undefined, onSignOut })
 */
export function Header(props: {
  name: string
  roles: string[]
  merchantName: string | null
  onSwitch?: () => void
  onSignOut: () => void
}) {
  return h(
    'header',
    { class: 'bar' },
    h('span', { class: 'brand' }, 'Tollgate'),
    h(
      'p',
      { class: 'who' },
      h('span', { class: 'user-name' }, props.name),
      ' · ',
      h('span', { class: 'user-role' }, props.roles.join(', ')),
      props.merchantName ? [' at ', h('span', { class: 'merchant-name' }, props.merchantName)] : null,
    ),
    h(
      'div',
      { class: 'actions' },
      props.onSwitch ? h('button', { type: 'button', onClick: props.onSwitch }, 'Switch merchant') : null,
      h('button', { type: 'button', onClick: props.onSignOut }, 'Sign out'),
    ),
  )
}
