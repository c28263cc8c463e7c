// Secrets are masked here, in the task process, rather than registered with `##vso[task.setsecret]`: that command
// would itself print the value (and its base64 `user:pass` form, and every issued token) on the task's raw stdout.
// The agent already masks the service connection's own parameters; everything derived from them is ours to keep in.
const secrets = new Set<string>();
/** The forms longest first, so that a form containing another is masked whole. */
let longestFirst: string[] = [];

/** Very short values would mask ordinary words; no credential is that short. */
const MIN_SECRET_LENGTH = 4;

/**
 * The forms a secret takes on its way out: as typed, in a Basic header or a JWT (base64, base64url), in a URL or a
 * form body (`password=…%25%3B…`), and inside JSON (a service that echoes its request back in an error).
 */
export function secretForms(value: string): string[] {
  const bytes = Buffer.from(value, 'utf8');
  const forms = [
    value,
    bytes.toString('base64'),
    bytes.toString('base64').replace(/=+$/, ''),
    bytes.toString('base64url'),
    encodeURIComponent(value),
    // application/x-www-form-urlencoded, as URLSearchParams writes it (spaces as `+`, `*-._` kept).
    new URLSearchParams({ v: value }).toString().slice(2),
    JSON.stringify(value).slice(1, -1),
  ];
  // Percent-encoding written with lower-case hex digits is the same value to every decoder.
  forms.push(...forms.filter((form) => /%[0-9A-F]{2}/.test(form)).map((form) => form.replace(/%[0-9A-F]{2}/g, (e) => e.toLowerCase())));
  return [...new Set(forms)].filter((form) => form.length >= MIN_SECRET_LENGTH);
}

/** Masks `value`, in each of its encoded forms, in everything the task prints from now on. */
export function registerSecret(value: string | undefined): void {
  if (!value || value.length < MIN_SECRET_LENGTH) return;
  for (const form of secretForms(value)) secrets.add(form);
  longestFirst = [...secrets].sort((a, b) => b.length - a.length);
}

export function redact(text: string): string {
  let result = text;
  for (const secret of longestFirst) {
    if (result.includes(secret)) result = result.split(secret).join('***');
  }
  return result;
}
