// The supervisor's public face: what the layers above it (the control socket, HTTP) may
// use — a snapshot of the services, a subscription to what happens, and submitting
// requests. The loop, the pure core and the port stay behind it; only the composition
// roots wire those.
export type { SupervisorLoop, SupervisorEvent } from './loop';
export type { ServiceRecord, JobRecord, JobResult } from './core';
export { JOB_RESULTS } from './core';
export { nextRunAfter } from './schedule';
export { reasonOf } from './core';
export { isUp, isSettled, pidOf, stateName } from './state';
export type { TendLogger } from './logs';
