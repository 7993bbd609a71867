// Two-factor authentication: enrolment (QR code, secret, recovery codes shown
// once) and the challenge that marks this session MFA-verified.
import { api } from '../api.ts'
import type { Page } from '../app-shell.ts'
import { h, statusLine } from '../dom.ts'

interface Enrolment {
  secret: string
  otpauth_uri: string
  qr_code: string
  recovery_codes: string[]
}

export const mfaPage: Page = async (ctx) => {
  const { main } = ctx
  const me = await ctx.refreshMe()
  if (!me) return
  main.append(h('h1', {}, 'Two-factor authentication'))
  const status = statusLine()

  const challenge = (heading: string) => {
    const code = h('input', {
      id: 'mfa-code',
      name: 'code',
      inputmode: 'numeric',
      autocomplete: 'one-time-code',
      pattern: '[0-9]{6}',
      maxlength: '6',
      required: true,
    })
    const recovery = h('input', { id: 'recovery-code', name: 'recovery', autocomplete: 'off' })
    const form = h(
      'form',
      {
        onsubmit: async (e: Event) => {
          e.preventDefault()
          try {
            const body = recovery.value.trim()
              ? { recovery_code: recovery.value.trim() }
              : { code: code.value.trim() }
            const result = await api<{ recovery_codes_left: number }>('POST', '/auth/mfa/verify', body)
            status.say(`Verified. ${result.recovery_codes_left} recovery codes left.`, 'ok')
            await ctx.refreshMe()
            // Home once the message has been seen, unless the person has already moved on.
            const here = location.pathname
            setTimeout(() => {
              if (location.pathname === here) ctx.navigate('/app')
            }, 600)
          } catch (error) {
            status.say((error as Error).message, 'error')
          }
        },
      },
      h('h2', {}, heading),
      h('label', { for: 'mfa-code' }, 'Six-digit code from your app'),
      code,
      h(
        'details',
        {},
        h('summary', {}, 'Lost your phone? Use a recovery code'),
        h('label', { for: 'recovery-code' }, 'Recovery code'),
        recovery,
      ),
      h('button', { type: 'submit' }, 'Verify'),
    )
    code.required = true
    recovery.addEventListener('input', () => {
      code.required = recovery.value.trim() === ''
    })
    return form
  }

  if (me.mfa.enrolled) {
    main.append(
      me.session.mfa_verified
        ? h('p', {}, 'This session has passed two-factor authentication.')
        : challenge('Enter a code'),
      status,
    )
    return
  }
  const start = h('button', { type: 'button', id: 'mfa-enrol' }, 'Set up an authenticator app')
  main.append(
    h(
      'p',
      {},
      'Scan a QR code with an authenticator app (any that supports TOTP), then enter the code it shows. You need this before you can make keys; admins need it for every admin page.',
    ),
    start,
    status,
  )
  start.addEventListener('click', async () => {
    try {
      const enrolment = await api<Enrolment>('POST', '/auth/mfa/enroll')
      start.remove()
      status.before(
        h(
          'figure',
          {},
          h('img', {
            src: enrolment.qr_code,
            alt: 'QR code for your authenticator app',
            width: '256',
            height: '256',
          }),
          h('figcaption', {}, 'Or type this key: ', h('code', { id: 'mfa-secret' }, enrolment.secret)),
        ),
        h(
          'section',
          { 'aria-labelledby': 'recovery-heading' },
          h('h2', { id: 'recovery-heading' }, 'Recovery codes'),
          h(
            'p',
            {},
            'Each works once if you lose your authenticator. Keep them somewhere safe: they are shown only now.',
          ),
          h(
            'ul',
            { id: 'recovery-codes' },
            ...enrolment.recovery_codes.map((c) => h('li', {}, h('code', {}, c))),
          ),
        ),
        challenge('Confirm with a code'),
      )
    } catch (error) {
      status.say((error as Error).message, 'error')
    }
  })
}
