// The stored filename, exactly as DESIGN.md says: only [A-Za-z0-9._-]; dots
// in the stem become `_`; an extension outside the allow-list is dropped; at
// most 255 characters; `document` when nothing is left. `test.exe.png`
// becomes `test_exe.png`. Other characters (spaces, slashes, non-ASCII) are
// dropped, so no path survives.

export const ALLOWED_EXTENSIONS = ['pdf', 'txt', 'png', 'jpg', 'jpeg'] as const
export const MAX_FILENAME_LENGTH = 255

export function sanitizeFilename(path: string): string {
  const name = path.slice(Math.max(path.lastIndexOf('/'), path.lastIndexOf('\\')) + 1)
  const lastDot = name.lastIndexOf('.')
  const extension = lastDot >= 0 ? name.slice(lastDot + 1).toLowerCase() : ''
  const suffix = (ALLOWED_EXTENSIONS as readonly string[]).includes(extension) ? `.${extension}` : ''
  const stem = (lastDot >= 0 ? name.slice(0, lastDot) : name)
    .replace(/\./g, '_')
    .replace(/[^A-Za-z0-9_-]/g, '')
    .slice(0, MAX_FILENAME_LENGTH - suffix.length)
  return `${stem === '' ? 'document' : stem}${suffix}`
}
