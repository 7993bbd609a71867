// A policy's YAML with line numbers and the deciding rule's lines marked.
import type { PolicyText } from './api.ts'
import { h } from './dom.ts'

export function policyView(text: PolicyText, caption: string): HTMLElement {
  const lines = text.yaml.replace(/\n$/, '').split('\n')
  const hl = text.highlight
  const code = h('code')
  lines.forEach((line, i) => {
    const n = i + 1
    const marked = hl !== null && n >= hl.from && n <= hl.to
    code.append(
      h(
        'span',
        { class: marked ? 'line hl' : 'line', ...(marked ? { 'data-highlighted': 'true' } : {}) },
        h('span', { class: 'ln', 'aria-hidden': 'true' }, String(n).padStart(2)),
        line,
      ),
    )
  })
  return h(
    'figure',
    { class: 'policy' },
    h('figcaption', {}, h('strong', {}, `${text.kind} ${text.id}`), ` ${caption}`),
    h('pre', {}, code),
  )
}
