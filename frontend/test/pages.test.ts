// @vitest-environment happy-dom
// Pages as a browser renders them (happy-dom): labelled controls, text from
// the server shown as text, and problem+json details shown as the error.
import { afterEach, describe, expect, it, vi } from 'vitest'
import type { PageContext } from '../src/app-shell.ts'
import { h } from '../src/dom.ts'
import { adminPage } from '../src/pages/admin.ts'
import { verifyPage } from '../src/pages/verify.ts'

function context(): PageContext {
  const main = document.createElement('main')
  document.body.replaceChildren(main)
  return { me: null, main, navigate: () => undefined, refreshMe: async () => null }
}

const json = (status: number, body: unknown, type = 'application/json') =>
  new Response(JSON.stringify(body), { status, headers: { 'content-type': type } })

afterEach(() => {
  vi.unstubAllGlobals()
})

describe('dom', () => {
  it('puts text as text: markup from a server is never parsed', () => {
    const el = h('p', {}, '<img src=x onerror=alert(1)>')
    expect(el.querySelector('img')).toBeNull()
    expect(el.textContent).toBe('<img src=x onerror=alert(1)>')
  })
})

describe('the verify page', () => {
  it('labels every field and says what verification-api answered, in words', async () => {
    const fetch = vi.fn(async () =>
      json(200, {
        valid: true,
        trusted: false,
        reason: 'revoked_key',
        revoked_at: '2026-11-01T00:00:00.000Z',
      }),
    )
    vi.stubGlobal('fetch', fetch)
    const ctx = context()
    await verifyPage(ctx, {})
    for (const input of ctx.main.querySelectorAll('input')) {
      expect(ctx.main.querySelector(`label[for="${input.id}"]`), input.id).not.toBeNull()
    }
    ;(ctx.main.querySelector('#verify-sha256') as HTMLInputElement).value = 'ab'.repeat(32)
    ;(ctx.main.querySelector('#verify-signature') as HTMLInputElement).value = 'sig'
    ;(ctx.main.querySelector('#verify-key') as HTMLInputElement).value = 'key-1'
    ctx.main.querySelector('form')?.dispatchEvent(new Event('submit', { cancelable: true }))
    await vi.waitFor(() =>
      expect(ctx.main.querySelector('.status-line')?.textContent).toMatch(
        /^The signature matches, but the key was revoked/,
      ),
    )
    expect(ctx.main.querySelector('.status-line')?.getAttribute('role')).toBe('alert')
    expect(fetch).toHaveBeenCalledWith('/verify', expect.objectContaining({ method: 'POST' }))
    const body = JSON.parse(String((fetch.mock.calls[0] as unknown as [string, RequestInit])[1].body))
    expect(body).toEqual({ sha256: 'ab'.repeat(32), signature: 'sig', key_id: 'key-1' })
  })
})

describe('the admin page', () => {
  it("shows the API's problem detail when the role is missing, and no data", async () => {
    vi.stubGlobal(
      'fetch',
      vi.fn(async () =>
        json(
          403,
          { code: 'ERR_ADMIN_REQUIRED', detail: 'this needs the admin role' },
          'application/problem+json',
        ),
      ),
    )
    const ctx = context()
    await adminPage(ctx, {})
    expect(ctx.main.querySelector('[role="alert"]')?.textContent).toBe('this needs the admin role')
    expect(ctx.main.querySelector('table')).toBeNull()
  })

  it('names the first broken audit entry', async () => {
    vi.stubGlobal(
      'fetch',
      vi.fn(async (url: string) =>
        url.startsWith('/admin/stats')
          ? json(200, {
              users: 3,
              sessions: { active: 1 },
              buckets: { active: 1 },
              signatures: 2,
              audit_entries: 9,
            })
          : url.startsWith('/admin/users')
            ? json(200, { items: [], total: 0 })
            : json(200, {
                valid: false,
                chain: {
                  valid: false,
                  entries: 9,
                  first_broken_id: 4,
                  breaks: [{ id: 4, reason: 'hash_mismatch' }],
                },
                checkpoints: { valid: true, checkpoints: 1, problems: [] },
              }),
      ),
    )
    const ctx = context()
    await adminPage(ctx, {})
    expect(ctx.main.querySelector('#audit-status')?.textContent).toBe(
      'Broken at entry 4 (hash_mismatch); 9 entries checked.',
    )
  })
})
