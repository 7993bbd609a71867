// POST /auth/mfa/enroll and /auth/mfa/verify. Enrolment shows the secret, its
// otpauth URI, a QR code and ten recovery codes, once; the first good code
// confirms it. Verification marks the session MFA-verified.
import { HttpProblem, type ServiceApp } from '@docs-mesh/platform'
import type { FastifyRequest } from 'fastify'
import Type from 'typebox'
import type { Mfa } from '../mfa/mfa.ts'
import type { Users } from '../users/users.ts'

export function mfaRoutes(
  app: ServiceApp,
  options: {
    mfa: Mfa
    users: Users
    /** Per address and per account (limits/auth-limits.ts). */
    verifyLimit: (request: FastifyRequest) => Promise<void>
    /** Per account: each enrolment costs ten Argon2id hashes. */
    enrolLimit: (request: FastifyRequest) => Promise<void>
  },
): void {
  app.post(
    '/auth/mfa/enroll',
    {
      config: { session: 'user' },
      onRequest: options.enrolLimit,
      schema: {
        tags: ['mfa'],
        security: [{ session: [] }],
        response: {
          200: Type.Object({
            secret: Type.String({ description: 'base32, for typing into an authenticator app' }),
            otpauth_uri: Type.String(),
            qr_code: Type.String({ description: 'the otpauth URI as a PNG data URL' }),
            recovery_codes: Type.Array(Type.String(), { description: 'shown only now; each works once' }),
          }),
        },
      },
    },
    async (request, reply) => {
      const user = await options.users.byId(request.session!.userId)
      reply.header('cache-control', 'no-store')
      return options.mfa.enrol(user!.id, user!.email)
    },
  )

  app.post(
    '/auth/mfa/verify',
    {
      config: { session: 'user' },
      onRequest: options.verifyLimit,
      schema: {
        tags: ['mfa'],
        security: [{ session: [] }],
        body: Type.Object(
          {
            code: Type.Optional(
              Type.String({ pattern: '^[0-9]{6}$', description: 'the six digits from the app' }),
            ),
            recovery_code: Type.Optional(Type.String({ minLength: 10, maxLength: 20 })),
          },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({
            mfa_verified: Type.Literal(true),
            method: Type.Enum(['totp', 'recovery_code']),
            recovery_codes_left: Type.Integer(),
          }),
        },
      },
    },
    async (request) => {
      const { code, recovery_code } = request.body
      if ((code === undefined) === (recovery_code === undefined))
        throw new HttpProblem(400, 'ERR_VALIDATION', 'send either code or recovery_code')
      const { userId, sessionId } = request.session!
      const result = await options.mfa.verify(
        userId,
        sessionId,
        code !== undefined ? { code } : { recoveryCode: recovery_code as string },
      )
      return { mfa_verified: true as const, ...result }
    },
  )
}
