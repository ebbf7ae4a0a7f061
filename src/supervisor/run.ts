// STUB — replaced by the supervisor work (issue 4).
export async function runSupervisor(_command: { config: string | null; socket: string | null; logFormat: 'text' | 'json' | null; logLevel: string | null }): Promise<number> {
  process.stderr.write('tend run: not implemented yet\n');
  return 70;
}
