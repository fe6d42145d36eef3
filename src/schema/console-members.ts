import {
  addConsoleMember,
  type ConsoleMember,
  listConsoleMembers,
  removeConsoleRole,
} from '../core/access/console-members.ts'
import { consoleRoles } from '../core/access/console-roles.ts'
import { builder } from './builder.ts'
import { requireAuth } from './context.ts'
import { userErrors } from './errors.ts'

// The people who use the console for the merchant (of the key, or of the session's X-Tollgate-Merchant), managed
// by its admins. Roles travel as text, so an unknown one is an INVALID_INPUT UserError like every other bad input.

const roleList = consoleRoles.join(', ')

const ConsoleMemberRef = builder.objectRef<ConsoleMember>('ConsoleMember').implement({
  description: 'A person who holds at least one console role at your merchant.',
  fields: (t) => ({
    id: t.exposeID('id', { description: 'The console user (usr_…)' }),
    email: t.exposeString('email'),
    name: t.exposeString('name', {
      description: 'Their display name, as they or whoever added them chose it',
    }),
    roles: t.exposeStringList('roles', {
      description: `Their roles at your merchant only (any of ${roleList}); roles elsewhere are never shown`,
    }),
    totpEnabled: t.exposeBoolean('totpEnabled', {
      description: 'Two-factor is on: their sign-in needs a code',
    }),
    disabled: t.exposeBoolean('disabled', { description: 'Disabled by an operator: they cannot sign in' }),
  }),
})

builder.queryField('consoleMembers', (t) =>
  t.field({
    type: [ConsoleMemberRef],
    description: 'The people holding a console role at your merchant, by name (needs admin)',
    authScopes: { scope: 'admin' },
    resolve: async (_root, _args, ctx) => listConsoleMembers(ctx.app, (await requireAuth(ctx)).merchantId),
  }),
)

const AddConsoleMemberInput = builder.inputType('AddConsoleMemberInput', {
  fields: (t) => ({
    email: t.string({ required: true }),
    name: t.string({
      required: true,
      description: 'Their display name (1 to 100 characters); not used when the email has a user already',
    }),
    role: t.string({ required: true, description: `One of ${roleList}` }),
    password: t.string({
      required: true,
      description:
        'The initial password of a new user (12 to 200 characters, not one character repeated, not the email); checked always, used only when the email has no user yet',
    }),
  }),
})

const AddConsoleMemberPayload = builder
  .objectRef<{ member: ConsoleMember }>('AddConsoleMemberPayload')
  .implement({ fields: (t) => ({ member: t.field({ type: ConsoleMemberRef, resolve: (p) => p.member }) }) })

builder.mutationField('addConsoleMember', (t) =>
  t.field({
    type: AddConsoleMemberPayload,
    authScopes: { scope: 'admin' },
    errors: userErrors('AddConsoleMemberResult'),
    args: { input: t.arg({ type: AddConsoleMemberInput, required: true }) },
    description:
      'Gives a person a console role at your merchant (needs admin). An email without a user becomes a new user with this name and initial password; an email with a user (whatever its case) only gains the role, keeping their own name and password. The answer has the same shape either way. Granting a role held already changes nothing.',
    resolve: async (_root, { input }, ctx) => {
      const auth = await requireAuth(ctx)
      const member = await addConsoleMember(ctx.app, {
        merchantId: auth.merchantId,
        ...input,
        actor: { keyId: auth.keyId, requestId: ctx.requestId },
      })
      return { member }
    },
  }),
)

const RemoveConsoleRoleInput = builder.inputType('RemoveConsoleRoleInput', {
  fields: (t) => ({
    userId: t.id({ required: true }),
    role: t.string({ required: true, description: `One of ${roleList}` }),
  }),
})

const RemoveConsoleRolePayload = builder
  .objectRef<{ userId: string; role: string; member: ConsoleMember | undefined }>('RemoveConsoleRolePayload')
  .implement({
    fields: (t) => ({
      userId: t.exposeID('userId'),
      role: t.exposeString('role', { description: 'The role taken back' }),
      member: t.field({
        type: ConsoleMemberRef,
        nullable: true,
        description: 'The member as left, or null when they hold no role at your merchant any more',
        resolve: (p) => p.member ?? null,
      }),
    }),
  })

builder.mutationField('removeConsoleRole', (t) =>
  t.field({
    type: RemoveConsoleRolePayload,
    authScopes: { scope: 'admin' },
    errors: userErrors('RemoveConsoleRoleResult'),
    args: { input: t.arg({ type: RemoveConsoleRoleInput, required: true }) },
    description:
      'Takes a console role at your merchant back from a person (needs admin); their roles at other merchants stay. Their sessions keep working with what is left, from their next request. The last admin role of an enabled user is refused (INVALID_STATE); someone who holds no role here, or not this one, is NOT_FOUND.',
    resolve: async (_root, { input }, ctx) => {
      const auth = await requireAuth(ctx)
      const member = await removeConsoleRole(ctx.app, {
        merchantId: auth.merchantId,
        userId: String(input.userId),
        role: input.role,
        actor: { keyId: auth.keyId, requestId: ctx.requestId },
      })
      return { userId: String(input.userId), role: input.role, member }
    },
  }),
)
