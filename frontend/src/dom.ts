// Builds DOM nodes without HTML strings, so nothing a server or user sends
// is ever parsed as markup.
type Child = Node | string | null | undefined | false
type Attrs = Record<string, string | boolean | EventListener | undefined>

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Attrs = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag)
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === false) continue
    if (typeof value === 'function') el.addEventListener(name.replace(/^on/, ''), value)
    else if (value === true) el.setAttribute(name, '')
    else el.setAttribute(name, value)
  }
  for (const child of children) if (child) el.append(child)
  return el
}

/** A live region that announces outcomes to screen readers and shows errors. */
export function statusLine(): HTMLParagraphElement & { say(text: string, kind?: 'error' | 'ok'): void } {
  const p = h('p', {
    role: 'status',
    'aria-live': 'polite',
    class: 'status-line',
  }) as HTMLParagraphElement & {
    say(text: string, kind?: 'error' | 'ok'): void
  }
  p.say = (text, kind) => {
    p.textContent = text
    p.dataset.kind = kind ?? ''
    if (kind === 'error') p.setAttribute('role', 'alert')
    else p.setAttribute('role', 'status')
  }
  return p
}

export const formatBytes = (n: number): string =>
  n < 1024
    ? `${n} B`
    : n < 1024 * 1024
      ? `${(n / 1024).toFixed(1)} KiB`
      : `${(n / 1024 / 1024).toFixed(2)} MiB`
