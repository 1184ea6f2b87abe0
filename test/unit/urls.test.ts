import { describe, expect, test } from 'vitest'
import { maskSecrets, maskUrl, needsEmbedded, passwordsOf, resolveModuleUrl, splitPassword } from '../../src/config/urls.ts'
import { modules, selectModules } from '../../src/modules.ts'

describe('resolveModuleUrl', () => {
  const admin = modules.admin
  test("a module's own variable wins and is used as given", () => {
    const r = resolveModuleUrl(admin, { ADMIN_DATABASE_URL: 'postgresql://u@h:5432/adm', DATABASE_URL: 'postgresql://u@h/all' })
    expect(r).toEqual({ url: 'postgresql://u@h:5432/adm', source: 'ADMIN_DATABASE_URL', pgSchema: 'public' })
  })
  test('DATABASE_URL gives each module its own PostgreSQL schema', () => {
    const env = { DATABASE_URL: 'postgresql://u:p@h:5432/all?sslmode=disable' }
    expect(selectModules().map((m) => resolveModuleUrl(m, env)!.url)).toEqual([
      'postgresql://u:p@h:5432/all?sslmode=disable&schema=admin',
      'postgresql://u:p@h:5432/all?sslmode=disable&schema=storage_element',
      'postgresql://u:p@h:5432/all?sslmode=disable&schema=query',
    ])
  })
  test('the embedded URL is used only when nothing else is set', () => {
    expect(resolveModuleUrl(admin, {}, 'postgresql://e@127.0.0.1:54329/artstore')).toMatchObject({ source: 'embedded', pgSchema: 'admin' })
    expect(resolveModuleUrl(admin, {})).toBeUndefined()
    expect(needsEmbedded(selectModules(), { ADMIN_DATABASE_URL: 'postgresql://u@h/a' })).toBe(true)
    expect(needsEmbedded(selectModules(), { DATABASE_URL: 'postgresql://u@h/a' })).toBe(false)
  })
  test.each([
    ['not a url', /DATABASE_URL is not a valid PostgreSQL URL \(it does not parse as a URL\)/],
    ['mysql://u@h/db', /scheme "mysql" is not postgresql/],
    ['postgresql://u@h', /it names no database/],
    ['postgresql://u@h/db?schema=x', /sets \?schema=, but each module gets its own schema/],
  ])('DATABASE_URL=%s is refused with one line naming the variable', (url, message) => {
    expect(() => resolveModuleUrl(admin, { DATABASE_URL: url })).toThrow(message)
  })
  test('a malformed URL never shows its password in the error', () => {
    expect(() => resolveModuleUrl(admin, { ADMIN_DATABASE_URL: 'mysql://u:hunter22@h/db' })).toThrow(/^(?!.*hunter22)/)
  })
})

describe('masking', () => {
  test('maskUrl hides the password and keeps the rest', () => {
    expect(maskUrl('postgresql://art:s3cr%40t@db:5432/a?schema=admin')).toBe('postgresql://art:****@db:5432/a?schema=admin')
    expect(maskUrl('postgresql://art@db/a')).toBe('postgresql://art@db/a')
  })
  test('maskSecrets hides URL passwords and the literal secrets given, anywhere in text', () => {
    const text = 'failed: postgres://me:pa55word@h/db and again pa55word; redis://:tok@h'
    expect(maskSecrets(text, ['pa55word'])).toBe('failed: postgres://me:****@h/db and again ****; redis://:****@h')
  })

  // Issue 19, item 3: a password in the query string is as valid for pg and libpq as the userinfo's.
  test('maskUrl hides every secret query parameter and keeps the paths and the rest', () => {
    expect(maskUrl('postgresql://postgres@h/db?password=Sekr1t&sslpassword=K3y&sslmode=require&passfile=/x/.pgpass&sslkey=/k.pem')).toBe(
      'postgresql://postgres@h/db?password=****&sslpassword=****&sslmode=require&passfile=/x/.pgpass&sslkey=/k.pem',
    )
    expect(maskUrl('postgresql://u:p@ss@h/db?pass%77ord=Enc0ded&access_token=T0k&schema=admin#f')).toBe(
      'postgresql://u:****@h/db?pass%77ord=****&access_token=****&schema=admin#f',
    )
    expect(maskUrl('postgresql://u@h:5432/db?application_name=x&password=')).toBe('postgresql://u@h:5432/db?application_name=x&password=')
  })
  test('maskSecrets masks query secrets of URLs in text and JSON, and conninfo keywords, keeping JSON valid', () => {
    const json = JSON.stringify({ database: 'postgresql://u@h/db?password=Sekr1t', e: '(postgres://a:b@h/d?sslpassword=K3y), host=h password=abc' })
    const masked = maskSecrets(json)
    expect(JSON.parse(masked)).toEqual({ database: 'postgresql://u@h/db?password=****', e: '(postgres://a:****@h/d?sslpassword=****), host=h password=****' })
  })
  test('passwordsOf lists the query secrets too, raw and decoded', () => {
    expect(passwordsOf(['postgresql://u@h/db?password=a%2Bb&sslpassword=K3y&sslkey=/k.pem'])).toEqual(expect.arrayContaining(['a+b', 'a%2Bb', 'K3y']))
    expect(passwordsOf(['postgresql://u@h/db?sslkey=/k.pem'])).toEqual([])
  })
  test('splitPassword takes the password out of either form; ?password= wins, as in pg and libpq', () => {
    expect(splitPassword('postgresql://u:a%2Bb@h/d')).toEqual({ url: 'postgresql://u@h/d', password: 'a+b' })
    expect(splitPassword('postgresql://u:old@h/d?password=new&schema=x')).toEqual({ url: 'postgresql://u@h/d?schema=x', password: 'new' })
    expect(splitPassword('postgresql://u@h/d?schema=x')).toEqual({ url: 'postgresql://u@h/d?schema=x', password: '' })
  })
})
