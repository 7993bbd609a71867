// The "why" box: pick a caller, a destination, a method and a path, and see
// what the mesh decides at each layer and which policy text decided it.
import { api, type MeshGraph, ProblemError, type WhyAnswer } from './api.ts'
import { h } from './dom.ts'
import { policyView } from './policy-view.ts'

const METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS']

const OUTCOME_TEXT: Record<WhyAnswer['outcome'], string> = {
  allowed: 'Allowed',
  denied: 'Denied: 403 RBAC',
  dropped: 'Dropped by the network',
}

export function whyAnswerView(answer: WhyAnswer): HTMLElement {
  const r = answer.request
  const l7Caption =
    answer.l7.policy === null
      ? answer.l7.decision === 'DENY'
        ? '(applies to the destination; no rule of it matches)'
        : ''
      : answer.l7.rule === null
        ? `decided (${answer.l7.decision})`
        : `rule ${answer.l7.rule} decided (${answer.l7.decision}), highlighted`
  return h(
    'section',
    { class: `why-answer outcome-${answer.outcome}`, 'data-outcome': answer.outcome },
    h(
      'p',
      { class: 'verdict' },
      h('span', { class: `badge badge-${answer.outcome}` }, OUTCOME_TEXT[answer.outcome]),
      ' ',
      h('span', { class: 'request' }, `${r.from} → ${r.to}:${r.port}  ${r.method} ${r.path}`),
    ),
    h('p', { class: 'summary' }, answer.summary),
    h(
      'ol',
      { class: 'layers' },
      h(
        'li',
        {},
        h('strong', {}, 'L3/L4 NetworkPolicy: '),
        answer.network === null
          ? 'no pod for this destination in the network model'
          : `${answer.network.verdict}${answer.network.policy ? ` (${answer.network.policy}${answer.network.direction ? `, ${answer.network.direction}` : ''})` : ' (neither end is isolated)'}`,
      ),
      h(
        'li',
        {},
        h('strong', {}, 'mTLS identity: '),
        r.principal ? `spiffe://${r.principal}` : 'none (plaintext: no peer principal)',
      ),
      h('li', {}, h('strong', {}, 'L7 AuthorizationPolicy: '), `${answer.l7.decision}: ${answer.l7.reason}`),
    ),
    answer.network?.text
      ? policyView(
          answer.network.text,
          answer.network.verdict === 'DROP' ? 'refused the connection' : 'admitted the connection',
        )
      : null,
    ...answer.l7.policies.map((p) => policyView(p, l7Caption)),
  )
}

export function whyBox(graph: MeshGraph): {
  element: HTMLElement
  ask(q: { from: string; to: string; method: string; path: string }): Promise<void>
} {
  // The label beside its control (not around it), so its accessible name is the label alone.
  const field = (label: string, id: string, control: HTMLElement) =>
    h('div', { class: 'field' }, h('label', { for: id }, label), control)
  const select = (label: string, id: string, options: string[], value: string) =>
    field(
      label,
      id,
      h(
        'select',
        { id, name: id },
        ...options.map((o) => h('option', { value: o, selected: o === value }, o)),
      ),
    )
  const from = select(
    'Caller',
    'why-from',
    graph.sources,
    graph.sources.includes('bucket-api') ? 'bucket-api' : (graph.sources[0] ?? ''),
  )
  const destinations = graph.destinations.map((d) => d.name)
  const to = select(
    'Destination',
    'why-to',
    destinations,
    destinations.includes('signing-api') ? 'signing-api' : (destinations[0] ?? ''),
  )
  const method = select('Method', 'why-method', METHODS, 'POST')
  const path = field(
    'Path',
    'why-path',
    h('input', { id: 'why-path', name: 'why-path', value: '/sign', spellcheck: false }),
  )
  const out = h('div', { class: 'why-out', 'aria-live': 'polite' })
  const value = (label: HTMLElement) => (label.querySelector('select, input') as HTMLInputElement).value
  const set = (label: HTMLElement, v: string) => {
    ;(label.querySelector('select, input') as HTMLInputElement).value = v
  }

  async function ask(q: { from: string; to: string; method: string; path: string }) {
    set(from, q.from)
    set(to, q.to)
    set(method, q.method)
    set(path, q.path)
    out.replaceChildren(h('p', { class: 'muted' }, 'Asking the policy engine…'))
    try {
      out.replaceChildren(whyAnswerView(await api.why(q)))
    } catch (error) {
      const code = error instanceof ProblemError ? ` (${error.code})` : ''
      out.replaceChildren(h('p', { class: 'error', role: 'alert' }, `${(error as Error).message}${code}`))
    }
  }

  const form = h(
    'form',
    {
      class: 'why-form',
      onsubmit: (e: Event) => {
        e.preventDefault()
        void ask({ from: value(from), to: value(to), method: value(method), path: value(path) })
      },
    },
    from,
    to,
    method,
    path,
    h('button', { type: 'submit' }, 'Why?'),
  )
  const element = h(
    'section',
    { class: 'card why', id: 'why' },
    h('h2', {}, 'Why? Ask the mesh about any request'),
    h(
      'p',
      { class: 'muted' },
      'The same engines the sidecars use answer offline: the NetworkPolicies decide whether a connection opens at all, then the AuthorizationPolicies decide the request.',
    ),
    form,
    out,
  )
  return { element, ask }
}
