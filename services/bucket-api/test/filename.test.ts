// The filename sanitiser and the upload field validators, as properties.
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { MAX_FILENAME_LENGTH, sanitizeFilename } from '../src/buckets/filename.ts'
import { isBase64urlOf, parseUploadFields, UPLOAD_FIELD_NAMES } from '../src/buckets/upload-fields.ts'

describe('sanitizeFilename', () => {
  it.each([
    ['test.exe.png', 'test_exe.png'],
    ['report.pdf', 'report.pdf'],
    ['Quarterly Report (final).PDF', 'QuarterlyReportfinal.pdf'],
    ['malware.exe', 'malware'],
    ['archive.tar.gz', 'archive_tar'],
    ['../../etc/passwd', 'passwd'],
    ['..\\..\\boot.ini', 'boot'],
    ['C:\\Users\\me\\scan.final.png', 'scan_final.png'],
    ['.pdf', 'document.pdf'],
    ['', 'document'],
    ['résumé.txt', 'rsum.txt'],
    ['文件.jpeg', 'document.jpeg'],
    ['photo.JPG', 'photo.jpg'],
    [`${'a'.repeat(300)}.pdf`, `${'a'.repeat(251)}.pdf`],
  ])('%j becomes %j', (input, output) => {
    expect(sanitizeFilename(input)).toBe(output)
  })

  it('always gives a non-empty name of allowed characters, at most 255 long, with at most one dot before an allowed extension', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 400, unit: 'binary' }), (name) => {
        const out = sanitizeFilename(name)
        expect(out.length).toBeGreaterThan(0)
        expect(out.length).toBeLessThanOrEqual(MAX_FILENAME_LENGTH)
        expect(out).toMatch(/^[A-Za-z0-9_-]+(\.(pdf|txt|png|jpg|jpeg))?$/)
      }),
    )
  })

  it('is idempotent', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 300 }), (name) => {
        const once = sanitizeFilename(name)
        expect(sanitizeFilename(once)).toBe(once)
      }),
    )
  })
})

describe('upload field validation', () => {
  it('refuses any field set with a stable problem code, never another error', () => {
    const names = [...UPLOAD_FIELD_NAMES, 'other']
    fc.assert(
      fc.property(fc.dictionary(fc.constantFrom(...names), fc.string({ maxLength: 80 })), (fields) => {
        try {
          parseUploadFields(fields)
        } catch (error) {
          expect(error).toMatchObject({ statusCode: 400, code: expect.stringMatching(/^ERR_[A-Z_]+$/) })
        }
      }),
    )
  })

  it('takes exactly n bytes of canonical base64url', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 80 }), fc.integer({ min: 0, max: 80 }), (bytes, n) => {
        const encoded = Buffer.from(bytes).toString('base64url')
        expect(isBase64urlOf(encoded, n)).toBe(bytes.length === n)
        expect(isBase64urlOf(`${encoded}=`, bytes.length)).toBe(false)
      }),
    )
  })
})
