// The admin dashboard: counts, users and the audit chain's state.
import { api } from '../api.ts'
import type { Page } from '../app-shell.ts'
import { h } from '../dom.ts'

interface Verification {
  valid: boolean
  chain: {
    valid: boolean
    entries: number
    first_broken_id: number | null
    breaks: Array<{ id: number; reason: string }>
  }
  checkpoints: { valid: boolean; checkpoints: number; problems: Array<{ entry_id: number; problem: string }> }
}

export const adminPage: Page = async ({ main }) => {
  main.append(h('h1', {}, 'Administration'))
  try {
    const [stats, users, audit] = await Promise.all([
      api<{
        users: number
        sessions: { active: number }
        buckets: Record<string, number>
        signatures: number
        audit_entries: number
      }>('GET', '/admin/stats'),
      api<{
        items: Array<{
          email: string
          display_name: string
          role: string
          mfa_enrolled: boolean
          active_sessions: number
          disabled_at: string | null
        }>
        total: number
      }>('GET', '/admin/users?limit=50'),
      api<Verification>('GET', '/admin/audit/verify'),
    ])
    main.append(
      h(
        'section',
        { 'aria-labelledby': 'audit-heading' },
        h('h2', { id: 'audit-heading' }, 'Audit chain'),
        h(
          'p',
          { id: 'audit-status', 'data-valid': String(audit.valid) },
          audit.valid
            ? `Valid: ${audit.chain.entries} entries, every link recomputed; ${audit.checkpoints.checkpoints} signed checkpoints verified.`
            : audit.chain.first_broken_id !== null
              ? `Broken at entry ${audit.chain.first_broken_id} (${audit.chain.breaks[0]?.reason}); ${audit.chain.entries} entries checked.`
              : `The entries link up, but ${audit.checkpoints.problems.length} checkpoints do not verify (first at entry ${audit.checkpoints.problems[0]?.entry_id}: ${audit.checkpoints.problems[0]?.problem}).`,
        ),
      ),
      h(
        'section',
        { 'aria-labelledby': 'stats-heading' },
        h('h2', { id: 'stats-heading' }, 'Counts'),
        h(
          'ul',
          {},
          h('li', {}, `${stats.users} users, ${stats.sessions.active} active sessions`),
          h(
            'li',
            {},
            `Transfers: ${Object.entries(stats.buckets)
              .map(([k, v]) => `${v} ${k}`)
              .join(', ')}`,
          ),
          h('li', {}, `${stats.signatures} platform signatures, ${stats.audit_entries} audit entries`),
        ),
      ),
      h(
        'section',
        { 'aria-labelledby': 'users-heading' },
        h('h2', { id: 'users-heading' }, `Users (${users.total})`),
        h(
          'table',
          {},
          h(
            'thead',
            {},
            h(
              'tr',
              {},
              ...['E-mail', 'Name', 'Role', 'MFA', 'Sessions', 'Disabled'].map((t) =>
                h('th', { scope: 'col' }, t),
              ),
            ),
          ),
          h(
            'tbody',
            {},
            ...users.items.map((u) =>
              h(
                'tr',
                {},
                h('td', {}, u.email),
                h('td', {}, u.display_name),
                h('td', {}, u.role),
                h('td', {}, u.mfa_enrolled ? 'yes' : 'no'),
                h('td', {}, String(u.active_sessions)),
                h('td', {}, u.disabled_at ? 'yes' : 'no'),
              ),
            ),
          ),
        ),
      ),
    )
  } catch (error) {
    main.append(h('p', { role: 'alert', id: 'admin-error' }, (error as Error).message))
  }
}
