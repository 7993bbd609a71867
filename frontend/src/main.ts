// The app's entry: lists the APIs this deployment publishes, each with its
// OpenAPI document, and whether the gateway lets this browser reach it.
import './style.css'

const apis = [
  { name: 'identity-api', path: '/auth/openapi.json', about: 'sign-in, sessions, MFA and your keys' },
  { name: 'bucket-api', path: '/buckets/openapi.json', about: 'encrypted transfers' },
  { name: 'verification-api', path: '/verify/openapi.json', about: 'check a signature' },
  { name: 'admin-api', path: '/admin/openapi.json', about: 'administration' },
]

function render(root: HTMLElement): void {
  const section = document.createElement('section')
  section.setAttribute('aria-labelledby', 'apis-heading')
  const heading = document.createElement('h2')
  heading.id = 'apis-heading'
  heading.textContent = 'APIs'
  const list = document.createElement('ul')
  for (const api of apis) {
    const item = document.createElement('li')
    const link = document.createElement('a')
    link.href = api.path
    link.textContent = api.name
    const status = document.createElement('span')
    status.className = 'status'
    status.textContent = 'checking…'
    item.append(link, ` ${api.about} `, status)
    list.append(item)
    fetch(api.path, { headers: { accept: 'application/json' } })
      .then((res) => {
        status.textContent = res.ok ? 'reachable' : `answered ${res.status}`
      })
      .catch(() => {
        status.textContent = 'unreachable'
      })
  }
  section.append(heading, list)
  root.append(section)
}

const root = document.getElementById('app')
if (root) render(root)
