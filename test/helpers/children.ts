// The direct children of this process, from /proc/self/task/<tid>/children (every
// thread's list: the reaper thread's children are the process's too).
import { readdirSync, readFileSync } from 'node:fs';

export function directChildren(): number[] {
  const pids: number[] = [];
  let tasks: string[];
  try {
    tasks = readdirSync('/proc/self/task');
  } catch {
    return pids;
  }
  for (const tid of tasks) {
    try {
      for (const field of readFileSync(`/proc/self/task/${tid}/children`, 'utf8').split(' ')) if (/^\d+$/.test(field)) pids.push(Number(field));
    } catch {
      // the thread ended meanwhile
    }
  }
  return pids;
}
