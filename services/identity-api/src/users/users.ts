// Users as identity-api keeps them: found by their provider's subject, made
// at their first sign-in, admin when their e-mail is on the configured list.
// The list is config, read once at boot; at boot every user's role is made to
// agree with it (syncRoles), and every service reads the role from the users
// row on every request, so an address taken off the list loses admin on its
// next request once identity-api runs with the new list, not at next sign-in.
import { randomUUID } from 'node:crypto'
import { type DatabaseHandle, HttpProblem, type UserKeyTable, type UserTable } from '@docs-mesh/platform'
import type { ProviderIdentity } from '../oidc/relying-party.ts'

export interface SignedInUser {
  user: UserTable
  created: boolean
}

export function parseAdminEmails(list: string): Set<string> {
  return new Set(
    list
      .split(',')
      .map((e) => e.trim().toLowerCase())
      .filter(Boolean),
  )
}

export function createUsers(handle: DatabaseHandle, options: { adminEmails: Set<string> }) {
  const roleFor = (email: string): UserTable['role'] => (options.adminEmails.has(email) ? 'admin' : 'user')

  return {
    async signIn(provider: string, identity: ProviderIdentity): Promise<SignedInUser> {
      if (!identity.emailVerified)
        throw new HttpProblem(
          403,
          'ERR_EMAIL_UNVERIFIED',
          'the provider has not verified this e-mail address',
        )
      const now = new Date().toISOString()
      return handle.db.transaction().execute(async (trx) => {
        const link = await trx
          .selectFrom('oidc_links')
          .innerJoin('users', 'users.id', 'oidc_links.user_id')
          .selectAll('users')
          .where('oidc_links.provider', '=', provider)
          .where('oidc_links.subject', '=', identity.subject)
          .executeTakeFirst()
        if (link) {
          if (link.disabled_at !== null)
            throw new HttpProblem(403, 'ERR_ACCOUNT_DISABLED', 'this account has been disabled')
          const role = roleFor(link.email)
          await trx.updateTable('users').set({ role }).where('id', '=', link.id).execute()
          await trx
            .updateTable('oidc_links')
            .set({ last_sign_in_at: now })
            .where('provider', '=', provider)
            .where('subject', '=', identity.subject)
            .execute()
          return { user: { ...link, role }, created: false }
        }
        const taken = await trx
          .selectFrom('users')
          .select('id')
          .where('email', '=', identity.email)
          .executeTakeFirst()
        // Linking by e-mail would hand this account to whoever controls the address at another subject.
        if (taken)
          throw new HttpProblem(409, 'ERR_EMAIL_IN_USE', 'another account already uses this e-mail address')
        const user: UserTable = {
          id: randomUUID(),
          email: identity.email,
          display_name: (identity.name ?? identity.email.split('@')[0] ?? identity.email).slice(0, 200),
          role: roleFor(identity.email),
          created_at: now,
          disabled_at: null,
        }
        await trx.insertInto('users').values(user).execute()
        await trx
          .insertInto('oidc_links')
          .values({
            provider,
            subject: identity.subject,
            user_id: user.id,
            created_at: now,
            last_sign_in_at: now,
          })
          .execute()
        return { user, created: true }
      })
    },

    /** Makes every role agree with the list; returns who changed, for the audit trail. */
    async syncRoles(): Promise<Array<{ user_id: string; email: string; role: UserTable['role'] }>> {
      const admins = [...options.adminEmails]
      return handle.db.transaction().execute(async (trx) => {
        const demoted = await trx
          .updateTable('users')
          .set({ role: 'user' })
          .where('role', '=', 'admin')
          .$if(admins.length > 0, (q) => q.where('email', 'not in', admins))
          .returning(['id', 'email'])
          .execute()
        const promoted =
          admins.length === 0
            ? []
            : await trx
                .updateTable('users')
                .set({ role: 'admin' })
                .where('role', '=', 'user')
                .where('email', 'in', admins)
                .returning(['id', 'email'])
                .execute()
        return [
          ...demoted.map((u) => ({ user_id: u.id, email: u.email, role: 'user' as const })),
          ...promoted.map((u) => ({ user_id: u.id, email: u.email, role: 'admin' as const })),
        ]
      })
    },

    async byId(id: string): Promise<UserTable | undefined> {
      return handle.db.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirst()
    },

    async byEmail(email: string): Promise<UserTable | undefined> {
      return handle.db
        .selectFrom('users')
        .selectAll()
        .where('email', '=', email.trim().toLowerCase())
        .executeTakeFirst()
    },

    /** The keys a sender should use now: neither replaced nor revoked. */
    async currentKeys(userId: string): Promise<UserKeyTable[]> {
      return handle.db
        .selectFrom('user_keys')
        .selectAll()
        .where('user_id', '=', userId)
        .where('superseded_at', 'is', null)
        .where('revoked_at', 'is', null)
        .execute()
    },
  }
}

export type Users = ReturnType<typeof createUsers>
