// One line of a service's output, as the ring keeps it and the socket sends it.
export interface LogLine {
  readonly service: string;
  readonly stream: 'stdout' | 'stderr';
  readonly time: number;
  readonly line: string;
}
