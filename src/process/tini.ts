// STUB — replaced by the PID 1 work (issue 3).
export async function runTini(_command: { argv: readonly string[]; socket: string | null }): Promise<number> {
  process.stderr.write('tend: tini mode is not implemented yet\n');
  return 70;
}
