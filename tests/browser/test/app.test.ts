// The browser app as people use it: Debian's Chromium, driven by
// playwright-core, against the whole system started as `pnpm dev` starts it.
// alice and bob sign in through the local OpenID provider, enrol MFA and make
// keys; alice sends bob a PDF; bob claims, opens and verifies it; a tampered
// ciphertext is refused in bob's browser; carol (admin) sees the audit chain
// valid; a non-admin gets no admin data. Each step saves a screenshot into
// tests/browser/screenshots/.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { startThrowawaySystem } from '@docs-mesh/mesh/system'
import * as OTPAuth from 'otpauth'
import { type BrowserContext, chromium, type Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

const ROOT = fileURLToPath(new URL('../../../', import.meta.url))
const SCREENSHOTS = fileURLToPath(new URL('../screenshots/', import.meta.url))
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
const FLAGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
]
const PDF = Buffer.from(
  '%PDF-1.4\n1 0 obj <</Type /Catalog /Pages 2 0 R>> endobj\n2 0 obj <</Type /Pages /Kids [] /Count 0>> endobj\ntrailer <</Root 1 0 R>>\n%%EOF\n',
)
const NAMES = { alice: 'Alice Example', bob: 'Bob Example', carol: 'Carol Admin' } as const
type Person = keyof typeof NAMES

let dir: string
let system: Awaited<ReturnType<typeof startThrowawaySystem>>
const contexts: BrowserContext[] = []
const pages = {} as Record<Person, Page>
let shot = 0

async function screenshot(page: Page, name: string) {
  shot++
  await page.screenshot({
    path: join(SCREENSHOTS, `${String(shot).padStart(2, '0')}-${name}.png`),
    fullPage: true,
  })
}

/** A browser of one's own: a fresh profile, as a person's browser is theirs alone. */
async function browserFor(person: Person): Promise<Page> {
  const context = await chromium.launchPersistentContext(mkdtempSync(join(dir, `profile-${person}-`)), {
    executablePath: CHROMIUM,
    headless: true,
    args: FLAGS,
    ignoreHTTPSErrors: true,
    acceptDownloads: true,
  })
  contexts.push(context)
  const page = context.pages()[0] ?? (await context.newPage())
  page.setDefaultTimeout(20_000)
  return page
}

const status = (page: Page) => page.locator('main .status-line').last()

async function signIn(person: Person) {
  const page = await browserFor(person)
  pages[person] = page
  await page.goto(`${system.gatewayUrl}/app`)
  await page.getByRole('button', { name: 'Sign in' }).click()
  await page.getByLabel('Username').fill(person)
  await page.getByLabel('Password').fill(`${person}-local-password`)
  await screenshot(page, `${person}-provider-login`)
  await page.getByRole('button', { name: 'Sign in' }).click()
  await expect.poll(() => page.locator('h1').textContent()).toBe(`Hello, ${NAMES[person]}`)
  expect(new URL(page.url()).search).toBe('')
  await screenshot(page, `${person}-home`)
  return page
}

async function enrolMfa(page: Page, person: Person) {
  await page.getByRole('link', { name: 'MFA' }).click()
  await page.getByRole('button', { name: 'Set up an authenticator app' }).click()
  const secret = (await page.locator('#mfa-secret').textContent()) ?? ''
  await expect
    .poll(() => page.getByRole('img', { name: 'QR code for your authenticator app' }).isVisible())
    .toBe(true)
  await expect.poll(() => page.locator('#recovery-codes li').count()).toBe(10)
  await screenshot(page, `${person}-mfa-enrol`)
  const code = new OTPAuth.TOTP({ secret: OTPAuth.Secret.fromBase32(secret) }).generate()
  await page.getByLabel('Six-digit code from your app').fill(code)
  await page.getByRole('button', { name: 'Verify' }).click()
  await expect.poll(() => status(page).textContent()).toMatch(/^Verified\./)
}

async function makeKeys(page: Page, person: Person) {
  await page.getByRole('link', { name: 'Keys' }).click()
  await page.getByRole('button', { name: 'Make my keys' }).click()
  await expect.poll(() => status(page).textContent()).toMatch(/keys are made, registered and attested/)
  await expect.poll(() => page.locator('tbody tr').count()).toBe(2)
  await screenshot(page, `${person}-keys`)
}

/** Sends a PDF; the server stores the name sanitised (`shownAs`). */
async function send(page: Page, to: Person, name: string, shownAs = name) {
  await page.getByRole('link', { name: 'Send' }).click()
  await page.getByLabel('Recipient’s e-mail address').fill(`${to}@docs-mesh.localhost`)
  await page.getByLabel(/^File/).setInputFiles({ name, mimeType: 'application/pdf', buffer: PDF })
  await page.getByRole('button', { name: 'Encrypt and send' }).click()
  await expect.poll(() => status(page).textContent()).toContain(`Sent ${shownAs} to ${NAMES[to]}.`)
}

describe('the browser app', () => {
  beforeAll(async () => {
    // Only this story's pictures: the console's (console-*.png) are its test's own.
    for (const file of existsSync(SCREENSHOTS) ? readdirSync(SCREENSHOTS) : [])
      if (!file.startsWith('console-')) rmSync(join(SCREENSHOTS, file), { force: true })
    mkdirSync(SCREENSHOTS, { recursive: true })
    // The apps' logs are shown only if the system does not start.
    const lines: string[] = []
    system = await startThrowawaySystem({ root: ROOT, log: (line) => lines.push(line) }).catch(
      (error: unknown) => {
        process.stderr.write(`${lines.slice(-300).join('\n')}\n`)
        throw error
      },
    )
    dir = system.dir
  })
  afterAll(async () => {
    for (const c of contexts) await c.close().catch(() => undefined)
    await system?.stop()
  })

  it('bob signs in, enrols MFA and makes keys', async () => {
    const bob = await signIn('bob')
    await enrolMfa(bob, 'bob')
    await makeKeys(bob, 'bob')
  })

  it('alice does the same, and sends bob a PDF with a progress bar', async () => {
    const alice = await signIn('alice')
    await enrolMfa(alice, 'alice')
    await makeKeys(alice, 'alice')
    await send(alice, 'bob', 'contract.final.pdf', 'contract_final.pdf')
    await expect.poll(() => alice.locator('progress').getAttribute('value')).toBe('1')
    await screenshot(alice, 'alice-sent')
    await alice.getByRole('link', { name: 'Outbox' }).click()
    await expect.poll(() => alice.getByRole('link', { name: 'contract_final.pdf' }).isVisible()).toBe(true)
    await screenshot(alice, 'alice-outbox')
  })

  it('bob claims, opens and verifies it, and saves the very file alice sent', async () => {
    const bob = pages.bob
    await bob.getByRole('link', { name: 'Inbox', exact: true }).click()
    await bob.getByRole('link', { name: 'contract_final.pdf' }).click()
    await screenshot(bob, 'bob-transfer')
    await bob.getByRole('button', { name: 'Claim and open' }).click()
    await expect
      .poll(() => status(bob).textContent())
      .toMatch(
        /^Decrypted and checked: .*Alice Example’s signature verifies and the platform vouches for their key/,
      )
    await expect.poll(() => bob.locator('#bucket-status').textContent()).toBe('claimed')
    const [download] = await Promise.all([
      bob.waitForEvent('download'),
      bob.getByRole('button', { name: 'Save contract_final.pdf' }).click(),
    ])
    expect(readFileSync((await download.path()) as string).equals(PDF)).toBe(true)
    await screenshot(bob, 'bob-opened')
  })

  it("refuses a tampered ciphertext in bob's browser, with a clear message", async () => {
    await send(pages.alice, 'bob', 'second.pdf')
    const bob = pages.bob
    await bob.route('**/buckets/*/content', async (route) => {
      const response = await route.fetch()
      const body = Buffer.from(await response.body())
      body[10] = (body[10] ?? 0) ^ 0xff
      await route.fulfill({ response, body })
    })
    await bob.getByRole('link', { name: 'Inbox', exact: true }).click()
    await bob.getByRole('link', { name: 'second.pdf' }).click()
    await bob.getByRole('button', { name: 'Claim and open' }).click()
    await expect
      .poll(() => status(bob).textContent())
      .toMatch(/^Refused: This file does not decrypt: it was altered on the way/)
    await expect.poll(() => bob.getByRole('button', { name: /^Save/ }).count()).toBe(0)
    await screenshot(bob, 'bob-tampered-refused')
    await bob.unroute('**/buckets/*/content')
  })

  it('carol, an admin who passed MFA, sees the audit chain valid', async () => {
    const carol = await signIn('carol')
    await expect.poll(() => carol.getByRole('link', { name: 'Admin' }).isVisible()).toBe(true)
    await enrolMfa(carol, 'carol')
    await carol.getByRole('link', { name: 'Admin' }).click()
    await expect
      .poll(() => carol.locator('#audit-status').textContent())
      .toMatch(/^Valid: \d+ entries, every link recomputed/)
    await expect
      .poll(() => carol.getByRole('cell', { name: 'alice@docs-mesh.localhost' }).isVisible())
      .toBe(true)
    await screenshot(carol, 'carol-admin')
  })

  it('a non-admin gets no admin data, from the page or the API', async () => {
    const alice = pages.alice
    await expect.poll(() => alice.getByRole('link', { name: 'Admin' }).count()).toBe(0)
    await alice.goto(`${system.gatewayUrl}/app/admin`)
    await expect.poll(() => alice.locator('#admin-error').textContent()).toBe('this needs the admin role')
    await expect.poll(() => alice.locator('#audit-status').count()).toBe(0)
    const res = await alice.evaluate(async () => {
      const r = await fetch('/admin/users')
      return { status: r.status, body: await r.text() }
    })
    expect(res.status).toBe(403)
    expect(res.body).not.toContain('@docs-mesh.localhost')
    await screenshot(alice, 'alice-admin-refused')
  })

  it('verifies a signature for anyone, signed in or not', async () => {
    const page = await browserFor('alice')
    await page.goto(`${system.gatewayUrl}/app/verify`)
    await page.getByLabel('SHA-256').fill('ab'.repeat(32))
    await page.getByLabel('Signature (base64)').fill('A'.repeat(86))
    await page.getByLabel('Key id').fill('no-such-key')
    await page.getByRole('button', { name: 'Verify' }).click()
    await expect.poll(() => status(page).textContent()).toBe('No key with that id is known.')
    await screenshot(page, 'verify-public')
  })
})
