// STUB — replaced by the config work (issue 2).
export async function runCheck(_command: { config: string | null; json: boolean }): Promise<number> {
  process.stderr.write('tend check: not implemented yet\n');
  return 70;
}
export function runSchema(): number {
  process.stderr.write('tend schema: not implemented yet\n');
  return 70;
}
