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
 * Runs `measure(subject, runs)` for each subject. A peer that is not installed is recorded
 * as missing; a throw is recorded as an error and the suite goes on. `measure` returns an
 * array of samples, or { samples, note } (an array of those when `into` has several metrics).
 * With `interleave`, runs go round-robin (run 1 of every subject, then run 2, ...) with
 * runs = 1 per call, so that a shared machine's load swings hit every subject alike.
 * `runs` overrides ctx.runs for this figure; `maxRuns` caps it per subject (a slow peer).
 */
export async function forSubjects(ctx, subjects, measure, into, { interleave = false, runs = ctx.runs, maxRuns = {} } = {}) {
  const live = [];
  for (const subject of subjects) {
    const peer = peerOf(subject);
    if (peer !== null && ctx.peers[peer]?.missing) {
      for (const m of into) m.results[subject] = { missing: ctx.peers[peer].missing };
    } else {
      live.push(subject);
    }
  }
  const rounds = interleave ? runs : 1;
  for (let round = 0; round < rounds; round++) {
    for (const subject of live) {
      if (into.some((m) => m.results[subject]?.error)) continue;
      const limit = Math.min(runs, maxRuns[subject] ?? runs);
      if (interleave && round >= limit) continue;
      ctx.log(`  ${subject}${interleave ? ` (run ${round + 1}/${limit})` : ''}`);
      try {
        const value = await measure(subject, interleave ? 1 : limit);
        const entries = into.length > 1 ? value : [value];
        into.forEach((m, i) => {
          const v = Array.isArray(entries[i]) ? { samples: entries[i] } : entries[i];
          const r = m.results[subject];
          if (r?.samples && v.samples) r.samples.push(...v.samples);
          else m.results[subject] = { ...v, samples: [...(v.samples ?? [])] };
        });
      } catch (error) {
        ctx.log(`  ${subject}: ERROR ${error.message}`);
        for (const m of into) m.results[subject] = { error: String(error.message).split('\n')[0] };
      }
    }
  }
}

/** Marks subjects as not applicable, with the reason. */
export function notApplicable(m, subjects, reason) {
  for (const s of subjects) m.results[s] = { na: reason };
}
