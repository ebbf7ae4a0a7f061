// `ready: { log: … }` patterns run on tend's own thread against service output, which a
// service (or whoever can make it print) controls. A backtracking engine (V8's RegExp)
// takes exponential time on patterns like `^GET /(a|aa)+$` with a 45-byte line — PID 1 then
// spins for ever: no signal handling, no reaping, no socket. So patterns run on RE2's
// algorithm (re2js, pure JavaScript): time linear in the line, whatever the pattern.
// The price is RE2's syntax: no backreferences and no lookaround, refused at check time.
//
// re2js is loaded on the first log pattern only: most manifests have none.
import type { RE2JS as RE2JSClass } from 're2js';

export interface LinePattern {
  test(line: string): boolean;
}

function engine(): typeof RE2JSClass {
  return (require('re2js') as typeof import('re2js')).RE2JS;
}

/** Compiles a pattern check has accepted. */
export function compileLogPattern(pattern: string): LinePattern {
  const compiled = engine().compile(pattern);
  return { test: (line) => compiled.matcher(line).find() };
}

/** Why a pattern cannot be used, or null. */
export function logPatternProblem(pattern: string): string | null {
  try {
    engine().compile(pattern);
    return null;
  } catch (error) {
    const reason = (error instanceof Error ? error.message : String(error)).replace(/^error parsing regexp: /, '');
    return `${reason} (tend matches output in linear time with RE2's syntax: no backreferences or lookaround)`;
  }
}
