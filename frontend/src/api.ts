// Talks to the APIs through the gateway, on this origin. The session is the
// HttpOnly cookie the frontend server set; requests that change something
// echo the CSRF cookie in x-csrf-token. Errors come back as problem+json and
// are thrown as ApiError with the stable code and the server's words.
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    detail: string,
  ) {
    super(detail)
  }
}

const csrfToken = (): string =>
  document.cookie
    .split('; ')
    .find((c) => c.startsWith('__Host-docs_mesh_csrf='))
    ?.slice('__Host-docs_mesh_csrf='.length) ?? ''

export async function api<T>(
  method: string,
  path: string,
  body?: unknown | FormData,
  onUploadProgress?: (fraction: number) => void,
): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' }
  if (!['GET', 'HEAD'].includes(method)) headers['x-csrf-token'] = csrfToken()
  if (body !== undefined && !(body instanceof FormData)) headers['content-type'] = 'application/json'
  let res: { status: number; type: string; text: string }
  if (onUploadProgress && body instanceof FormData) {
    res = await xhr(method, path, headers, body, onUploadProgress)
  } else {
    const r = await fetch(path, {
      method,
      headers,
      credentials: 'same-origin',
      body: body === undefined ? undefined : body instanceof FormData ? body : JSON.stringify(body),
    })
    res = { status: r.status, type: r.headers.get('content-type') ?? '', text: await r.text() }
  }
  const parsed = res.text && /json/.test(res.type) ? JSON.parse(res.text) : undefined
  if (res.status >= 400) {
    throw new ApiError(
      res.status,
      parsed?.code ?? `HTTP_${res.status}`,
      parsed?.detail ?? `the server answered ${res.status}`,
    )
  }
  return parsed as T
}

/** fetch cannot report upload progress; XMLHttpRequest can. */
function xhr(
  method: string,
  path: string,
  headers: Record<string, string>,
  body: FormData,
  progress: (f: number) => void,
) {
  return new Promise<{ status: number; type: string; text: string }>((resolve, reject) => {
    const req = new XMLHttpRequest()
    req.open(method, path)
    for (const [k, v] of Object.entries(headers)) req.setRequestHeader(k, v)
    req.upload.onprogress = (e) => e.lengthComputable && progress(e.loaded / e.total)
    req.onload = () =>
      resolve({
        status: req.status,
        type: req.getResponseHeader('content-type') ?? '',
        text: req.responseText,
      })
    req.onerror = () => reject(new ApiError(0, 'ERR_NETWORK', 'the upload did not reach the server'))
    req.send(body)
  })
}

export async function download(path: string): Promise<ArrayBuffer> {
  const r = await fetch(path, { credentials: 'same-origin' })
  if (!r.ok) {
    const p = await r.json().catch(() => ({}))
    throw new ApiError(r.status, p.code ?? `HTTP_${r.status}`, p.detail ?? `the server answered ${r.status}`)
  }
  return r.arrayBuffer()
}

export interface Me {
  user: { id: string; email: string; display_name: string; role: 'user' | 'admin' }
  session: { id: string; expires_at: string; mfa_verified: boolean }
  mfa: { enrolled: boolean; pending: boolean }
}
