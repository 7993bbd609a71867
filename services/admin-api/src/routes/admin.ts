// Admin views and actions over the shared data. Every route needs an admin
// whose session passed MFA (the session plugin checks it, from the shared
// database: admin-api may not call identity-api), and every action (not the
// views) is audited with the admin who took it.
import {
  appendAuditEntry,
  type CoveragePolicy,
  HttpProblem,
  type ServiceApp,
  verifyAudit,
} from '@docs-mesh/platform'
import { sql } from 'kysely'
import Type from 'typebox'

const Page = {
  limit: Type.Integer({ minimum: 1, maximum: 100, default: 20 }),
}

const AdminUser = Type.Object({
  id: Type.String(),
  email: Type.String(),
  display_name: Type.String(),
  role: Type.Enum(['user', 'admin']),
  created_at: Type.String(),
  disabled_at: Type.Union([Type.String(), Type.Null()]),
  mfa_enrolled: Type.Boolean(),
  active_sessions: Type.Integer(),
})

const AuditEntry = Type.Object({
  id: Type.Integer(),
  type: Type.String(),
  data: Type.Record(Type.String(), Type.Unknown()),
  created_at: Type.String(),
  prev_hash: Type.String(),
  hash: Type.String(),
  version: Type.Integer({
    description: 'how the hash is computed: 1 `prev|type|data|ts`, 2 length-prefixed',
  }),
})

const UserParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 36 }) })

export function adminRoutes(app: ServiceApp, options: { coverage: CoveragePolicy }): void {
  const { db } = app.database
  const admin = { session: 'admin' as const }
  const secured = { security: [{ session: [] }], tags: ['admin'] }
  const count = async (query: { executeTakeFirstOrThrow(): Promise<{ n: number | string | bigint }> }) =>
    Number((await query.executeTakeFirstOrThrow()).n)

  async function userOr404(id: string) {
    const user = await db.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirst()
    if (!user) throw new HttpProblem(404, 'ERR_USER_NOT_FOUND', 'no such user')
    return user
  }

  app.get(
    '/admin/stats',
    {
      config: admin,
      schema: {
        ...secured,
        response: {
          200: Type.Object({
            users: Type.Integer(),
            sessions: Type.Object({ active: Type.Integer() }),
            buckets: Type.Object({
              active: Type.Integer(),
              claimed: Type.Integer(),
              withdrawn: Type.Integer(),
              expired: Type.Integer(),
            }),
            signatures: Type.Integer(),
            audit_entries: Type.Integer(),
          }),
        },
      },
    },
    async () => {
      const now = new Date().toISOString()
      const byStatus = await db
        .selectFrom('buckets')
        .select((eb) => [
          'status',
          eb.fn.countAll<number | string>().as('n'),
          eb.fn
            .sum<number | string>(sql`case when status = 'active' and expires_at <= ${now} then 1 else 0 end`)
            .as('lapsed'),
        ])
        .groupBy('status')
        .execute()
      const buckets = { active: 0, claimed: 0, withdrawn: 0, expired: 0 }
      for (const row of byStatus) {
        const lapsed = Number(row.lapsed ?? 0)
        buckets[row.status] += Number(row.n) - lapsed
        buckets.expired += lapsed
      }
      return {
        users: await count(db.selectFrom('users').select((eb) => eb.fn.countAll<number>().as('n'))),
        sessions: {
          active: await count(
            db
              .selectFrom('sessions')
              .select((eb) => eb.fn.countAll<number>().as('n'))
              .where('revoked_at', 'is', null)
              .where('expires_at', '>', now),
          ),
        },
        buckets,
        signatures: await count(db.selectFrom('signatures').select((eb) => eb.fn.countAll<number>().as('n'))),
        audit_entries: await count(
          db.selectFrom('audit_entries').select((eb) => eb.fn.countAll<number>().as('n')),
        ),
      }
    },
  )

  app.get(
    '/admin/users',
    {
      config: admin,
      schema: {
        ...secured,
        querystring: Type.Object(
          {
            q: Type.Optional(
              Type.String({ maxLength: 200, description: 'part of an e-mail address or name' }),
            ),
            ...Page,
            offset: Type.Integer({ minimum: 0, default: 0 }),
          },
          { additionalProperties: false },
        ),
        response: { 200: Type.Object({ items: Type.Array(AdminUser), total: Type.Integer() }) },
      },
    },
    async (request) => {
      const { q, limit, offset } = request.query
      const now = new Date().toISOString()
      let base = db.selectFrom('users')
      if (q) {
        const pattern = `%${q.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%`
        base = base.where((eb) =>
          eb.or([
            eb(eb.fn('lower', ['email']), 'like', sql<string>`${pattern} escape '\\'`),
            eb(eb.fn('lower', ['display_name']), 'like', sql<string>`${pattern} escape '\\'`),
          ]),
        )
      }
      const total = await count(base.select((eb) => eb.fn.countAll<number>().as('n')))
      const users = await base.selectAll().orderBy('email').limit(limit).offset(offset).execute()
      const ids = users.map((u) => u.id)
      const sessions = ids.length
        ? await db
            .selectFrom('sessions')
            .select((eb) => ['user_id', eb.fn.countAll<number | string>().as('n')])
            .where('user_id', 'in', ids)
            .where('revoked_at', 'is', null)
            .where('expires_at', '>', now)
            .groupBy('user_id')
            .execute()
        : []
      const mfa = ids.length
        ? await db
            .selectFrom('mfa_credentials')
            .select('user_id')
            .where('user_id', 'in', ids)
            .where('enabled_at', 'is not', null)
            .execute()
        : []
      const active = new Map(sessions.map((s) => [s.user_id, Number(s.n)]))
      const enrolled = new Set(mfa.map((m) => m.user_id))
      return {
        total,
        items: users.map((u) => ({
          ...u,
          mfa_enrolled: enrolled.has(u.id),
          active_sessions: active.get(u.id) ?? 0,
        })),
      }
    },
  )

  app.post(
    '/admin/users/:id/sessions/revoke',
    {
      config: admin,
      schema: { ...secured, params: UserParams, response: { 200: Type.Object({ revoked: Type.Integer() }) } },
    },
    async (request) => {
      const user = await userOr404(request.params.id)
      const result = await db
        .updateTable('sessions')
        .set({ revoked_at: new Date().toISOString() })
        .where('user_id', '=', user.id)
        .where('revoked_at', 'is', null)
        .executeTakeFirst()
      const revoked = Number(result.numUpdatedRows)
      await appendAuditEntry(app.database, {
        type: 'admin.sessions_revoke',
        data: { user_id: user.id, revoked, admin_id: request.session!.userId },
      })
      return { revoked }
    },
  )

  app.post(
    '/admin/users/:id/disable',
    { config: admin, schema: { ...secured, params: UserParams, response: { 200: AdminUser } } },
    async (request) => {
      const user = await userOr404(request.params.id)
      if (user.id === request.session!.userId)
        throw new HttpProblem(409, 'ERR_SELF_DISABLE', 'an admin cannot disable their own account')
      const now = new Date().toISOString()
      await db.transaction().execute(async (trx) => {
        await trx
          .updateTable('users')
          .set({ disabled_at: now })
          .where('id', '=', user.id)
          .where('disabled_at', 'is', null)
          .execute()
        await trx
          .updateTable('sessions')
          .set({ revoked_at: now })
          .where('user_id', '=', user.id)
          .where('revoked_at', 'is', null)
          .execute()
      })
      await appendAuditEntry(app.database, {
        type: 'admin.user_disable',
        data: { user_id: user.id, admin_id: request.session!.userId },
      })
      const mfa = await db
        .selectFrom('mfa_credentials')
        .select('enabled_at')
        .where('user_id', '=', user.id)
        .executeTakeFirst()
      return { ...(await userOr404(user.id)), mfa_enrolled: mfa?.enabled_at != null, active_sessions: 0 }
    },
  )

  app.post(
    '/admin/keys/:key_id/revoke',
    {
      config: admin,
      schema: {
        ...secured,
        params: Type.Object({ key_id: Type.String({ minLength: 1, maxLength: 100 }) }),
        body: Type.Object(
          { reason: Type.Optional(Type.String({ maxLength: 200 })) },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({
            key_id: Type.String(),
            owner: Type.Enum(['platform', 'user']),
            revoked_at: Type.String(),
          }),
        },
      },
      // The reason is optional, and so is the body that carries it.
      preValidation: async (request) => {
        request.body ??= {}
      },
    },
    async (request) => {
      const { key_id } = request.params
      const reason = request.body.reason ?? 'revoked by an admin'
      const now = new Date().toISOString()
      const platform = await db
        .selectFrom('signing_keys')
        .select(['revoked_at'])
        .where('key_id', '=', key_id)
        .executeTakeFirst()
      const user = platform
        ? undefined
        : await db
            .selectFrom('user_keys')
            .select(['revoked_at', 'user_id'])
            .where('id', '=', key_id)
            .executeTakeFirst()
      const found = platform ?? user
      if (!found) throw new HttpProblem(404, 'ERR_KEY_UNKNOWN', `no key ${key_id}`)
      if (found.revoked_at)
        throw new HttpProblem(409, 'ERR_KEY_REVOKED', `the key was revoked at ${found.revoked_at}`)
      if (platform) {
        await db
          .updateTable('signing_keys')
          .set({ revoked_at: now, revocation_reason: reason })
          .where('key_id', '=', key_id)
          .where('revoked_at', 'is', null)
          .execute()
      } else {
        await db
          .updateTable('user_keys')
          .set({ revoked_at: now })
          .where('id', '=', key_id)
          .where('revoked_at', 'is', null)
          .execute()
      }
      const owner = platform ? ('platform' as const) : ('user' as const)
      await appendAuditEntry(app.database, {
        type: 'admin.key_revoke',
        data: { key_id, owner, user_id: user?.user_id ?? null, reason, admin_id: request.session!.userId },
      })
      return { key_id, owner, revoked_at: now }
    },
  )

  app.get(
    '/admin/audit',
    {
      config: admin,
      schema: {
        ...secured,
        querystring: Type.Object(
          {
            ...Page,
            before: Type.Optional(
              Type.Integer({ minimum: 1, description: 'entries with a smaller id (the next page)' }),
            ),
          },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({
            items: Type.Array(AuditEntry),
            next_before: Type.Union([Type.Integer(), Type.Null()]),
          }),
        },
      },
    },
    async (request) => {
      const { limit, before } = request.query
      let query = db.selectFrom('audit_entries').selectAll()
      if (before !== undefined) query = query.where('id', '<', before)
      const rows = await query
        .orderBy('id', 'desc')
        .limit(limit + 1)
        .execute()
      const page = rows.slice(0, limit)
      return {
        items: page.map((r) => ({
          ...r,
          id: Number(r.id),
          data: JSON.parse(r.data) as Record<string, unknown>,
        })),
        next_before: rows.length > limit ? Number(page.at(-1)?.id) : null,
      }
    },
  )

  app.get(
    '/admin/audit/verify',
    {
      config: admin,
      schema: {
        ...secured,
        response: {
          200: Type.Object({
            valid: Type.Boolean(),
            chain: Type.Object({
              valid: Type.Boolean(),
              entries: Type.Integer(),
              head: Type.Union([Type.Object({ id: Type.Integer(), hash: Type.String() }), Type.Null()]),
              first_broken_id: Type.Union([Type.Integer(), Type.Null()]),
              breaks: Type.Array(Type.Object({ id: Type.Integer(), reason: Type.String() })),
            }),
            checkpoints: Type.Object({
              valid: Type.Boolean(),
              checkpoints: Type.Integer(),
              problems: Type.Array(
                Type.Object({
                  checkpoint_id: Type.String(),
                  entry_id: Type.Integer(),
                  problem: Type.String(),
                }),
              ),
              latest: Type.Union([
                Type.Object({
                  sequence: Type.Union([Type.Integer(), Type.Null()]),
                  entry_id: Type.Integer(),
                  signed_at: Type.String(),
                }),
                Type.Null(),
              ]),
            }),
            coverage: Type.Object({
              valid: Type.Boolean(),
              problem: Type.Union([
                Type.Enum(['no_checkpoint', 'stale_checkpoint', 'head_not_covered']),
                Type.Null(),
              ]),
              head_id: Type.Union([Type.Integer(), Type.Null()]),
              checkpoint_entry_id: Type.Union([Type.Integer(), Type.Null()]),
              entries_behind: Type.Integer(),
              checkpoint_age_seconds: Type.Union([Type.Integer(), Type.Null()]),
            }),
          }),
        },
      },
    },
    async () => verifyAudit(app.database, options.coverage),
  )
}
