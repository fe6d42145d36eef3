import { describe, expect, test } from 'bun:test'
import { apiKeyScopes } from './api-keys.ts'
import { consoleRoles, isConsoleRole, roleScopes, scopesFor, scopesOfRoles } from './console-roles.ts'

const sorted = (scopes: Iterable<string>) => [...scopes].sort()

describe('console roles', () => {
  test('default: each role stands for its API scopes', () => {
    expect(sorted(roleScopes.viewer)).toEqual(['payments:read'])
    expect(sorted(roleScopes.operator)).toEqual([
      'payments:read',
      'payments:write',
      'webhooks:write',
      'withdrawals:write',
    ])
    expect(sorted(roleScopes.approver)).toEqual(['payments:read', 'withdrawals:approve'])
    expect(sorted(roleScopes.compliance)).toEqual(['compliance:review', 'payments:read'])
    expect(sorted(roleScopes.admin)).toEqual(sorted(apiKeyScopes))
    expect(roleScopes.admin).toContain('admin')
  })

  test('behavior: only admin holds the admin scope; approving and reviewing are scopes of their own', () => {
    for (const role of consoleRoles) expect(roleScopes[role].includes('admin')).toBe(role === 'admin')
    expect(apiKeyScopes).toContain('withdrawals:approve')
    expect(apiKeyScopes).toContain('compliance:review')
    expect(roleScopes.operator).not.toContain('withdrawals:approve')
    expect(roleScopes.approver).not.toContain('compliance:review')
  })

  test('behavior: roles add up; memberships count only for their own merchant', () => {
    expect(sorted(scopesOfRoles(['viewer', 'approver', 'compliance']))).toEqual([
      'compliance:review',
      'payments:read',
      'withdrawals:approve',
    ])
    const memberships = [
      { merchantId: 'mer_a', role: 'approver' },
      { merchantId: 'mer_a', role: 'viewer' },
      { merchantId: 'mer_b', role: 'admin' },
    ] as const
    expect(sorted(scopesFor(memberships, 'mer_a'))).toEqual(['payments:read', 'withdrawals:approve'])
    expect(sorted(scopesFor(memberships, 'mer_b'))).toEqual(sorted(apiKeyScopes))
    expect(scopesFor(memberships, 'mer_c').size).toBe(0)
  })

  test('error: only the five role names are roles', () => {
    for (const role of consoleRoles) expect(isConsoleRole(role)).toBe(true)
    for (const role of ['Admin', 'root', '', 'admin ', null, 1, ['admin'], 'toString', '__proto__'])
      expect(isConsoleRole(role)).toBe(false)
  })
})
