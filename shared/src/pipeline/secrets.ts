// Secrets are masked here, in the task process, rather than registered with `##vso[task.setsecret]`: that command
// would itself print the value (and its base64 `user:pass` form, and every issued token) on the task's raw stdout.
// The agent already masks the service connection's own parameters; everything derived from them is ours to keep in.
const secrets = new Set<string>();

/** Masks `value` in everything the task prints from now on. */
export function registerSecret(value: string | undefined): void {
  // Very short values would mask ordinary words; no credential is that short.
  if (value && value.length >= 4) secrets.add(value);
}

export function redact(text: string): string {
  let result = text;
  for (const secret of secrets) if (result.includes(secret)) result = result.split(secret).join('***');
  return result;
}
