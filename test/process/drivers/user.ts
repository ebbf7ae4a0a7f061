// Driver: runs `id` as the user given in argv through spawnProcess and prints what it saw.
import { spawnProcess } from '../../../src/process/spawn';

const [user, group] = process.argv.slice(2);
const child = spawnProcess({
  service: 'who', argv: ['sh', '-c', 'echo "$(id -u) $(id -g) $(id -G) $HOME $USER $LOGNAME"'],
  env: {}, cwd: null, user: user ?? null, group: group ?? null, stdin: 'null', output: 'inherit', notifyFd: null, cgroup: null, session: 'new',
}, { instance: 'x', socket: null });
void child.exit.then((status) => { if (status.kind !== 'exited' || status.code !== 0) console.log(JSON.stringify(status)); });
