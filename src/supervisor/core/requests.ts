// What is asked from outside — tend's own boot, the control socket's start, stop, restart,
// signal and reload, a signal to tend asking for the shutdown — routed to the concern that
// answers it; during the shutdown a start, restart or reload is refused.
import * as say from '../../log/messages';
import type { Request } from '../events';
import { pidOf, unreachable } from '../state';
import type { Draft } from './draft';
import { reload } from './apply-reload';
import { beginShutdown, killNow } from './shutdown';
import { boot, restartByHand, startByHand } from './start';
import { stop } from './stop';

export function request(d: Draft, request: Request): void {
  switch (request.kind) {
    case 'boot':
      boot(d);
      return;
    case 'start':
      if (refuseWhileShuttingDown(d)) return;
      for (const name of request.names) startByHand(d, name);
      return;
    case 'stop':
      for (const name of request.names) if (d.services.has(name)) stop(d, name, 'stop');
      return;
    case 'restart':
      if (refuseWhileShuttingDown(d)) return;
      for (const name of request.names) restartByHand(d, name);
      return;
    case 'signal': {
      const record = d.record(request.name);
      if (record === undefined) return;
      if (!request.mainOnly) {
        d.emit({ kind: 'signal', service: request.name, signal: request.signal, cont: false });
        return;
      }
      const pid = pidOf(record.state);
      if (pid !== null) d.emit({ kind: 'signal-pid', pid, signal: request.signal });
      return;
    }
    case 'reload':
      // A reload during the shutdown would start what is being stopped.
      if (refuseWhileShuttingDown(d)) {
        d.log('warn', say.reloadDuringShutdown());
        return;
      }
      reload(d, request.plan, request.envChanged ?? []);
      return;
    case 'shutdown':
      if (request.how === 'at-once') killNow(d);
      else beginShutdown(d, request.reason, request.requested ? 'requested' : 'main-ended', request.requested);
      return;
    default:
      unreachable(request);
  }
}

function refuseWhileShuttingDown(d: Draft): boolean {
  if (!d.shuttingDown) return false;
  d.reply = { kind: 'refused', reason: 'shutting-down' };
  return true;
}
