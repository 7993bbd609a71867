// POST /admin/users/:id/mfa/reset: an admin (MFA-verified) removes a user's
// MFA factor and recovery codes and ends all their sessions, so the user
// enrols afresh at their next sign-in. It closes the trust-on-first-use
// window (docs/security-model.md): a factor enrolled by whoever held the
// user's first-factor session first can be taken away. Audited with the admin.
import { appendAuditEntry, HttpProblem, type ServiceApp } from '@docs-mesh/platform'
import Type from 'typebox'

export function mfaResetRoutes(app: ServiceApp): void {
  app.post(
    '/admin/users/:id/mfa/reset',
    {
      config: { session: 'admin' },
      schema: {
        tags: ['admin'],
        security: [{ session: [] }],
        params: Type.Object({ id: Type.String({ minLength: 1, maxLength: 36 }) }),
        response: {
          200: Type.Object({
            user_id: Type.String(),
            had_mfa: Type.Boolean({ description: 'false when the user had no factor, confirmed or pending' }),
            sessions_revoked: Type.Integer(),
          }),
        },
      },
    },
    async (request) => {
      const userId = request.params.id
      const adminId = request.session!.userId
      const now = new Date().toISOString()
      const result = await app.database.db.transaction().execute(async (trx) => {
        const user = await trx.selectFrom('users').select('id').where('id', '=', userId).executeTakeFirst()
        if (!user) throw new HttpProblem(404, 'ERR_USER_NOT_FOUND', 'no such user')
        await trx.deleteFrom('recovery_codes').where('user_id', '=', userId).execute()
        const removed = await trx
          .deleteFrom('mfa_credentials')
          .where('user_id', '=', userId)
          .executeTakeFirst()
        const revoked = await trx
          .updateTable('sessions')
          .set({ revoked_at: now })
          .where('user_id', '=', userId)
          .where('revoked_at', 'is', null)
          .executeTakeFirst()
        return { had_mfa: removed.numDeletedRows > 0n, sessions_revoked: Number(revoked.numUpdatedRows) }
      })
      await appendAuditEntry(app.database, {
        type: 'admin.mfa_reset',
        data: { user_id: userId, admin_id: adminId, ...result },
      })
      return { user_id: userId, ...result }
    },
  )
}
