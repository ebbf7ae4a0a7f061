// The shape every figure module reports, and the loop over subjects that turns a missing
// peer into "missing" and a failed measurement into an error row — never a silent skip.
import { peerOf } from './common.mjs';

/**
 * A metric: { id, title, goal, unit, better: 'lower'|'higher', primary, holds(median) →
 * boolean|null, results: { subject: { samples: number[], note? } | { missing } | { na } |
 * { error } }, notes: string[] }.
 */
export function metric(fields) {
  return { results: {}, notes: [], primary: 'tend run', better: 'lower', ...fields };
}

/**
 * Runs `measure(subject)` for each subject, one after another. A peer that is not
 * installed is recorded as missing; a throw is recorded as an error and the suite goes on.
 * `measure` returns an array of samples, or { samples, note }.
 */
export async function forSubjects(ctx, subjects, measure, into) {
  for (const subject of subjects) {
    const peer = peerOf(subject);
    if (peer !== null && ctx.peers[peer]?.missing) {
      for (const m of into) m.results[subject] = { missing: ctx.peers[peer].missing };
      continue;
    }
    ctx.log(`  ${subject}`);
    try {
      const value = await measure(subject);
      const entries = Array.isArray(into) && into.length > 1 ? value : [value];
      into.forEach((m, i) => {
        const v = entries[i];
        m.results[subject] = Array.isArray(v) ? { samples: v } : v;
      });
    } catch (error) {
      ctx.log(`  ${subject}: ERROR ${error.message}`);
      for (const m of into) m.results[subject] = { error: String(error.message).split('\n')[0] };
    }
  }
}

/** Marks subjects as not applicable, with the reason. */
export function notApplicable(m, subjects, reason) {
  for (const s of subjects) m.results[s] = { na: reason };
}
