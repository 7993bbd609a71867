// The mesh console as a person uses it: Debian's Chromium, driven by
// playwright-core, against the whole system as `pnpm dev` starts it, with
// the console beside it. A few of the matrix's calls are made (allowed,
// denied by RBAC, dropped by the NetworkPolicies); the console's graph must
// show their counts live, mark the denial and the drop apart, explain the
// denied call with the policy text, and the why box must highlight the rule
// that allows a call. Screenshots: tests/browser/screenshots/console-*.png,
// and docs/images/console.png for the README.
import { execFileSync } from 'node:child_process'
import { mkdirSync, mkdtempSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { meshCurl } from '@docs-mesh/mesh/client'
import { type RunningConsole, startConsole } from '@docs-mesh/mesh/console'
import { startThrowawaySystem } from '@docs-mesh/mesh/system'
import { type BrowserContext, chromium, type Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

const ROOT = fileURLToPath(new URL('../../../', import.meta.url))
const SCREENSHOTS = fileURLToPath(new URL('../screenshots/', import.meta.url))
const README_IMAGE = join(ROOT, 'docs/images/console.png')
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
/** Short, so a dropped call answers in a fraction of a second (three attempts), as in the e2e matrix. */
const CONNECT_TIMEOUT_MS = 50

let system: Awaited<ReturnType<typeof startThrowawaySystem>>
let meshConsole: RunningConsole
let context: BrowserContext
let page: Page
/**
 * One matrix-like call, as the e2e matrix makes it (mesh curl from a workload,
 * through its outbound proxy): the proxies' own metrics and access logs are
 * what the console shows.
 */
async function call(from: string, to: string, port: number, method: string, path: string) {
  return meshCurl({ model: system.model, state: system.state, ca: system.ca }, from, {
    method,
    url: `http://${to}.docs.svc.cluster.local:${port}${path}`,
  })
}

async function shot(name: string) {
  await page.screenshot({ path: join(SCREENSHOTS, `console-${name}.png`), fullPage: true })
}

const edge = (key: string) => page.locator(`[data-edge="${key}"]`)
const label = (key: string) => page.locator(`[data-edge-label="${key}"]`)

type Counts = { ok: number; denied: number; dropped: number }
/** An edge's counts as its label shows them ("3 ok · 1 denied · 1 dropped"); none drawn is all zero. */
async function countsOf(key: string): Promise<Counts> {
  const text = (await label(key).count()) > 0 ? ((await label(key).textContent()) ?? '') : ''
  const n = (word: string) => Number(new RegExp(`(\\d+) ${word}`).exec(text)?.[1] ?? 0)
  return { ok: n('ok'), denied: n('denied'), dropped: n('dropped') }
}
/**
 * The proxies' counters run from start-up, when the apps' readiness checks
 * call their upstreams (bucket-api and identity-api call signing-api): the
 * calls below are counted on top of what the console showed before them.
 */
const before: Record<string, Counts> = {}
const EDGES = [
  'bucket-api->signing-api',
  'identity-api->signing-api',
  'istio-ingressgateway->signing-api',
  'frontend->signing-api',
]
const plus = (key: string, more: Partial<Counts>): Counts => {
  const b = before[key] ?? { ok: 0, denied: 0, dropped: 0 }
  return {
    ok: b.ok + (more.ok ?? 0),
    denied: b.denied + (more.denied ?? 0),
    dropped: b.dropped + (more.dropped ?? 0),
  }
}

describe('the mesh console', () => {
  beforeAll(async () => {
    mkdirSync(SCREENSHOTS, { recursive: true })
    // The page as `pnpm dev` serves it: built by Vite into console/dist.
    execFileSync('pnpm', ['--filter', '@docs-mesh/console', 'build', '--logLevel', 'warn'], {
      cwd: ROOT,
      stdio: 'inherit',
    })
    const lines: string[] = []
    system = await startThrowawaySystem({
      root: ROOT,
      log: (line) => lines.push(line),
      connectTimeoutMs: CONNECT_TIMEOUT_MS,
    }).catch((error: unknown) => {
      process.stderr.write(`${lines.slice(-300).join('\n')}\n`)
      throw error
    })
    const meshDir = join(system.dir, 'mesh')
    meshConsole = await startConsole({ meshDir, model: system.model, port: 0 })
    context = await chromium.launchPersistentContext(mkdtempSync(join(system.dir, 'profile-')), {
      executablePath: CHROMIUM,
      headless: true,
      args: FLAGS,
      viewport: { width: 1600, height: 1000 },
    })
    page = context.pages()[0] ?? (await context.newPage())
    page.setDefaultTimeout(20_000)
  })

  afterAll(async () => {
    await context?.close().catch(() => undefined)
    await meshConsole?.close()
    await system?.stop()
  })

  it('shows the policy graph before any traffic', async () => {
    await page.goto(meshConsole.url)
    await expect.poll(() => page.locator('[data-node]').count()).toBeGreaterThanOrEqual(7)
    // No start-up call crosses this edge: only what the policies allow is drawn.
    await expect
      .poll(() => edge('istio-ingressgateway->verification-api').getAttribute('data-state'))
      .toBe('policy')
    // Every proxy listed in state.json is scraped: its own metrics, not a stand-in's.
    await expect
      .poll(() => page.locator('.scrape-status').textContent())
      .toMatch(/Metrics from (\d+) of \1 proxies/)
    for (const key of EDGES) before[key] = await countsOf(key)
    await shot('01-policies')
  })

  it('counts allowed, denied and dropped calls live, each marked apart', async () => {
    for (let i = 0; i < 3; i++)
      expect((await call('bucket-api', 'signing-api', 8001, 'GET', '/health')).status).toBe(200)
    for (let i = 0; i < 2; i++)
      expect((await call('identity-api', 'signing-api', 8001, 'GET', '/health/ready')).status).toBe(200)
    // RBAC: the gateway's identity may not sign; the network lets it connect, its sidecar answers 403.
    for (let i = 0; i < 2; i++)
      expect((await call('ingress', 'signing-api', 8001, 'POST', '/sign')).status).toBe(403)
    expect((await call('bucket-api', 'signing-api', 8001, 'DELETE', '/sign')).status).toBe(403)
    // The NetworkPolicies: frontend's pod may not connect to signing-api at all.
    expect((await call('frontend', 'signing-api', 8001, 'POST', '/sign')).status).toBe(503)
    expect((await call('ingress', 'bucket-api', 8000, 'GET', '/health')).status).toBe(200)

    await expect
      .poll(() => countsOf('bucket-api->signing-api'))
      .toEqual(plus('bucket-api->signing-api', { ok: 3, denied: 1 }))
    await expect
      .poll(() => countsOf('identity-api->signing-api'))
      .toEqual(plus('identity-api->signing-api', { ok: 2 }))
    await expect
      .poll(() => countsOf('istio-ingressgateway->signing-api'))
      .toEqual(plus('istio-ingressgateway->signing-api', { denied: 2 }))
    await expect
      .poll(() => countsOf('frontend->signing-api'))
      .toEqual(plus('frontend->signing-api', { dropped: 1 }))
    expect(await edge('istio-ingressgateway->signing-api').getAttribute('data-state')).toBe('denied')
    expect(await edge('frontend->signing-api').getAttribute('data-state')).toBe('dropped')
    expect(await edge('identity-api->signing-api').getAttribute('data-state')).toBe('live')
    await expect
      .poll(() => label('identity-api->signing-api').textContent())
      .toMatch(/[\d.]+\/s · p99 [\d.]+ ms/)
    await shot('02-live-traffic')
  })

  it('explains a denied call with the policy that decided, its log line and the rule text', async () => {
    // A person clicks the edge's count box (the arrow under it selects the same edge).
    await label('bucket-api->signing-api').click()
    const details = page.locator('[data-details-edge="bucket-api->signing-api"]')
    await expect
      .poll(() => details.locator('table.traffic tr.denied td').textContent())
      .toBe(String(plus('bucket-api->signing-api', { denied: 1 }).denied))
    const explained = details.locator('.why-answer')
    await expect.poll(() => explained.getAttribute('data-outcome')).toBe('denied')
    await expect
      .poll(() => explained.locator('.summary').textContent())
      .toBe(
        'signing-api\'s sidecar answers 403 "RBAC: access denied" to DELETE /sign from bucket-api: no rule of docs/allow-nothing, docs/signing-api matches.',
      )
    await expect
      .poll(() => explained.locator('figcaption').allTextContents())
      .toEqual([
        'NetworkPolicy docs/signing-api-ingress admitted the connection',
        'AuthorizationPolicy docs/allow-nothing (applies to the destination; no rule of it matches)',
        'AuthorizationPolicy docs/signing-api (applies to the destination; no rule of it matches)',
      ])
    // The rule that names bucket-api allows POST only: the text shows why DELETE matches nothing.
    await expect
      .poll(() => explained.locator('pre').last().textContent())
      .toContain('cluster.local/ns/docs/sa/bucket-sa')
    await expect
      .poll(() => details.locator('.log-lines li.denied-line code').first().textContent())
      .toMatch(/"DELETE \/sign HTTP\/1\.1" 403 - rbac_access_denied_matched_policy\[none\]/)
    await shot('03-denied-explained')
    // The README's picture: the graph and the top of the explanation, as a screen shows them.
    await page.evaluate('window.scrollTo(0, 0)')
    await page.screenshot({
      path: README_IMAGE,
      fullPage: true,
      clip: { x: 0, y: 0, width: 1600, height: 1560 },
    })
  })

  it('marks a network drop apart, with the NetworkPolicy that refused it', async () => {
    await label('frontend->signing-api').click()
    const details = page.locator('[data-details-edge="frontend->signing-api"]')
    await expect
      .poll(() => details.locator('table.traffic tr.dropped td').textContent())
      .toBe(String(plus('frontend->signing-api', { dropped: 1 }).dropped))
    const explained = details.locator('.why-answer')
    await expect.poll(() => explained.getAttribute('data-outcome')).toBe('dropped')
    await expect
      .poll(() => explained.locator('figcaption').first().textContent())
      .toContain('NetworkPolicy docs/default-deny')
    await shot('04-dropped-explained')
  })

  it('the why box highlights the rule that allows a call', async () => {
    await page.getByLabel('Caller', { exact: true }).selectOption('identity-api')
    await page.getByLabel('Destination', { exact: true }).selectOption('signing-api')
    await page.getByLabel('Method', { exact: true }).selectOption('POST')
    await page.getByLabel('Path', { exact: true }).fill('/sign')
    await page.getByRole('button', { name: 'Why?', exact: true }).click()
    const answer = page.locator('#why .why-answer')
    await expect.poll(() => answer.getAttribute('data-outcome')).toBe('allowed')
    await expect
      .poll(() => answer.locator('figcaption').allTextContents())
      .toEqual([
        'NetworkPolicy docs/signing-api-ingress admitted the connection',
        'AuthorizationPolicy docs/signing-api rule 0 decided (ALLOW), highlighted',
      ])
    const highlighted = (await answer.locator('[data-highlighted]').allTextContents()).join('\n')
    expect(highlighted).toContain('cluster.local/ns/docs/sa/identity-sa')
    expect(highlighted).toContain('/sign')
    expect(highlighted).not.toContain('/health')
    await answer.scrollIntoViewIfNeeded()
    await shot('05-why-allowed')
  })
})
