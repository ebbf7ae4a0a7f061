// The Plan as a JSON document for `tend check --json` (and anything else that shows a
// plan): environment values are replaced, because they may be secrets (SPEC §4).
import type { Plan } from './types';

export const REDACTED = '(redacted)';

export function redactedPlan(plan: Plan): unknown {
  return {
    ...plan,
    services: plan.services.map((service) => ({
      ...service,
      env: Object.fromEntries(Object.keys(service.env).map((key) => [key, REDACTED])),
    })),
  };
}
