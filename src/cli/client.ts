// STUB — replaced by the control socket work (issue 5).
import type { ClientCommand } from './args';
export async function runClient(_command: ClientCommand, _socket: string | null): Promise<number> {
  process.stderr.write('tend: control commands are not implemented yet\n');
  return 70;
}
