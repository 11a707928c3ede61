/**
 * Live capture: runs build/wirelog-sensor (the only privileged piece) and turns its stdout into TransportSegments
 * through SensorRecordReader. The agent itself needs no privileges beyond being allowed to start the sensor.
 *
 * Sensor stderr protocol (lines prefixed "wirelog-sensor: "):
 *   attached iface=.. ifindex=.. ports=.. snaplen=.. ring_mb=..  → ready()
 *   ports now LIST                                               → portsChanged() (ack of setPorts)
 *   anything else                                                → error(message without the prefix)
 * Unprefixed stderr lines are libbpf's log (with verbose) and go to log(). Spawning and exit: sensor-process.ts.
 */
import type { SensorStats, TransportSegment } from '../records.js';
import type { SensorDevice, SensorDeviceDrops, SensorNetns } from '../decode/sensor.js';
import { startSensorProcess, withStreamArgs, type SensorProcessHandlers } from './sensor-process.js';

export interface LiveCaptureOptions {
  sensorPath: string;
  /** interface name; all interfaces of the network namespace when absent */
  iface?: string;
  /** every device of these namespaces (paths the sensor can enter), or of every namespace ('all') */
  netns?: 'all' | string[];
  ports: number[] | 'any';
  /** payload bytes per packet, 0..4096 (sensor default 4096) */
  snaplen?: number;
  /** ring buffer MiB (sensor default 8) */
  ringMb?: number;
  /** stats record interval (sensor default 1000 ms) */
  statsMs?: number;
  /** libbpf's debug log, delivered to handlers.log */
  verbose?: boolean;
}

/** with error(), exit(), hello() and log() of SensorProcessHandlers */
export interface LiveCaptureHandlers extends SensorProcessHandlers {
  packet(seg: TransportSegment): void;
  stats(s: SensorStats): void;
  ready(info: { iface: string; ports: string; snaplen: number }): void;
  portsChanged?(ports: string): void;
  /** with netns: a namespace watched, gone or failed */
  netns?(n: SensorNetns): void;
  device?(d: SensorDevice): void;
  deviceDrops?(tsUs: number, drops: SensorDeviceDrops[]): void;
}

export interface LiveCapture {
  setPorts(p: number[] | 'any'): void;
  /** "stop" on the sensor's stdin; it drains its ring buffer, writes final stats and exits; exit() fires after that. */
  stop(): void;
  /** a sensor that cannot be killed: stop waiting for it (SensorProcess.abandon) */
  abandon(): void;
  /** sensor pid, -1 when it could not be started */
  readonly pid: number;
}

export function formatPorts(p: number[] | 'any'): string {
  if (p === 'any') return 'any';
  if (p.length === 0) throw new RangeError('ports: empty list (use "any" for every port)');
  for (const n of p) {
    if (!Number.isInteger(n) || n < 1 || n > 65535) throw new RangeError(`ports: not a port number: ${n}`);
  }
  return p.join(',');
}

export function sensorArgs(opts: LiveCaptureOptions): string[] {
  const args = ['packet', '--binary', '-p', formatPorts(opts.ports)];
  if (opts.iface !== undefined) args.push('-i', opts.iface);
  if (opts.netns === 'all') args.push('--netns', 'all');
  else for (const p of opts.netns ?? []) args.push('--netns', p);
  if (opts.snaplen !== undefined) args.push('-s', String(opts.snaplen));
  return withStreamArgs(args, opts);
}

export function startLiveCapture(opts: LiveCaptureOptions, handlers: LiveCaptureHandlers): LiveCapture {
  // sensorArgs throws on bad ports before anything starts
  const sensor = startSensorProcess(opts.sensorPath, sensorArgs(opts), {
    records: {
      packet: (seg) => handlers.packet(seg),
      stats: (s) => handlers.stats(s),
      netns: (n) => handlers.netns?.(n),
      device: (d) => handlers.device?.(d),
      deviceDrops: (ts, d) => handlers.deviceDrops?.(ts, d),
    },
    attached: (kv) =>
      handlers.ready({
        iface: kv.get('iface') ?? opts.iface ?? 'any',
        ports: kv.get('ports') ?? formatPorts(opts.ports),
        snaplen: Number(kv.get('snaplen') ?? opts.snaplen ?? 4096),
      }),
    message: (msg) => {
      if (msg.startsWith('ports now ')) handlers.portsChanged?.(msg.slice('ports now '.length));
      else handlers.error(msg);
    },
    handlers,
  });
  if (!sensor) return { pid: -1, setPorts() {}, stop() {}, abandon() {} };

  return {
    get pid() {
      return sensor.pid;
    },
    setPorts(p: number[] | 'any') {
      sensor.command(`ports ${formatPorts(p)}`);
    },
    stop() {
      sensor.stop();
    },
    abandon() {
      sensor.abandon();
    },
  };
}
