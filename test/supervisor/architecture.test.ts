// docs/ARCHITECTURE.md's lists of events, timers and states are rendered from the code
// (src/supervisor/events.ts, state.ts) between markers; this test fails when they drift.
// To rewrite the blocks after a change: UPDATE_DOCS=1 npx vitest run test/supervisor/architecture.test.ts
import { describe, expect, it } from 'vitest';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from '../helpers/tend';
import { FACTS, REQUESTS, TIMERS } from '../../src/supervisor/events';
import { STATE_DOCS, STATE_IDS, TRANSITIONS, stateName, type ServiceState } from '../../src/supervisor/state';

const DOC = join(ROOT, 'docs', 'ARCHITECTURE.md');

const code = (text: string) => `\`${text}\``;

function list(entries: Readonly<Record<string, string>>): string {
  return Object.entries(entries).map(([kind, meaning]) => `- ${code(kind)}: ${meaning}`).join('\n');
}

/** The API name of each internal state (the waiting ones read `starting`). */
function apiName(id: (typeof STATE_IDS)[number]): string {
  return stateName({ id } as ServiceState);
}

const BLOCKS: Record<string, () => string> = {
  events: () => `Requests:\n\n${list(REQUESTS)}\n\nFacts:\n\n${list(FACTS)}\n\nTimers (the ${code('timer')} fact names one):\n\n${list(TIMERS)}`,
  states: () => [
    '| state | shown as | means | may go to |',
    '|---|---|---|---|',
    ...STATE_IDS.map((id) => `| ${code(id)} | ${apiName(id)} | ${STATE_DOCS[id]} | ${TRANSITIONS[id].map(code).join(', ')} |`),
  ].join('\n'),
};

const marker = (name: string) => [`<!-- generated: ${name} (test/supervisor/architecture.test.ts) -->`, `<!-- end: ${name} -->`] as const;

describe('docs/ARCHITECTURE.md, "The supervisor core"', () => {
  it.each(Object.keys(BLOCKS))('the %s block is what the code says', (name) => {
    let text = readFileSync(DOC, 'utf8');
    const [begin, end] = marker(name);
    const from = text.indexOf(begin);
    const to = text.indexOf(end);
    expect(from, `${begin} in docs/ARCHITECTURE.md`).toBeGreaterThan(-1);
    expect(to).toBeGreaterThan(from);
    const rendered = `${begin}\n${BLOCKS[name]!()}\n${end}`;
    if (process.env.UPDATE_DOCS === '1') {
      text = text.slice(0, from) + rendered + text.slice(to + end.length);
      writeFileSync(DOC, text);
    }
    expect(text.slice(from, text.indexOf(end) + end.length)).toBe(rendered);
  });

  it('has its own section', () => {
    expect(readFileSync(DOC, 'utf8')).toMatch(/^## The supervisor core$/m);
  });
});
