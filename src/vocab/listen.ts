// `sockets[].listen` of the manifest (socket activation): "host:port", a port number (every
// address), or "unix:PATH". Shared by the config check and the plan builder.

export type ListenAddress =
  | { readonly kind: 'tcp'; readonly host: string; readonly port: number }
  | { readonly kind: 'unix'; readonly path: string };

/** The address, or why it is not one. */
export function parseListen(listen: string | number): ListenAddress | string {
  if (typeof listen === 'number') return Number.isInteger(listen) && listen >= 1 && listen <= 65535 ? { kind: 'tcp', host: '', port: listen } : `expected a port 1..65535, got ${listen}`;
  if (listen.startsWith('unix:')) {
    const path = listen.slice(5);
    return path === '' ? 'expected unix:PATH, got an empty path' : { kind: 'unix', path };
  }
  const at = listen.lastIndexOf(':');
  const host = at < 0 ? '' : listen.slice(0, at).replace(/^\[(.*)\]$/, '$1');
  const port = at < 0 ? listen : listen.slice(at + 1);
  if (!/^[0-9]{1,5}$/.test(port) || Number(port) < 1 || Number(port) > 65535) return `expected "host:port", a port or "unix:PATH", got "${listen}"`;
  return { kind: 'tcp', host, port: Number(port) };
}

/** As the log and errors show it: "0.0.0.0:80", "*:80", "unix:/run/web.sock". */
export function showListen(address: ListenAddress): string {
  if (address.kind === 'unix') return `unix:${address.path}`;
  return `${address.host === '' ? '*' : address.host.includes(':') ? `[${address.host}]` : address.host}:${address.port}`;
}
