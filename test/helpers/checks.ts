// The failing checks of a verify-style report, one line each, for assertion messages.
export const failingChecks = (r: { items: { ok: boolean; category: string; name: string; actual?: string }[] }): string[] =>
  r.items.filter((i) => !i.ok).map((i) => `${i.category} ${i.name}: ${i.actual}`)
