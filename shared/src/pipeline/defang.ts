/**
 * The agent acts on `##vso[` and `##[` anywhere in a line, in any letter case. Text that comes from outside
 * (container output, registry error bodies, file contents) passes through here before it is printed, so a hostile
 * test image cannot set variables or fail the job. The result stays readable: `##vso[` becomes `# #vso[`.
 */
export function defang(text: string): string {
  return text.replace(/##(vso)?\[/gi, (_match, vso: string | undefined) => `# #${vso ?? ''}[`);
}
