/**
 * `"record":"netns"` lines (docs/schema.md "Namespace records"): who is behind a namespace the records name, written
 * once, when the first record of that namespace is written (its processes as they are then), in JSON lines beside
 * the L7 and L4 records of a live capture.
 */
import type { LineSink } from './log-writer.js';
import type { NetnsInfo } from '../source/attribution.js';
import { IsoTimeFormatter } from './local-time.js';

export interface NetnsRecord {
  record: 'netns';
  ts: string;
  netns: number;
  netns_name: string | null;
  container_id: string | null;
  pod_uid: string | null;
  processes: Array<{ pid: number; comm: string }>;
  /** processes in the namespace (`processes` lists at most 16, lowest pids first) */
  process_count: number;
}

export const NETNS_RECORD_FIELDS: ReadonlyArray<keyof NetnsRecord> = [
  'record', 'ts', 'netns', 'netns_name', 'container_id', 'pod_uid', 'processes', 'process_count',
];

export function toNetnsRecord(info: NetnsInfo, tsUs: number, iso: IsoTimeFormatter = new IsoTimeFormatter()): NetnsRecord {
  return {
    record: 'netns',
    ts: iso.format(tsUs),
    netns: info.netns,
    netns_name: info.netns_name,
    container_id: info.container_id,
    pod_uid: info.pod_uid,
    processes: info.processes.map((p) => ({ pid: p.pid, comm: p.comm })),
    process_count: info.process_count,
  };
}

export class NetnsJsonlSink {
  private readonly iso = new IsoTimeFormatter();
  constructor(private readonly out: LineSink) {}
  netns(info: NetnsInfo, tsUs: number): void {
    // not a hot path: a few lines per namespace
    this.out.write(JSON.stringify(toNetnsRecord(info, tsUs, this.iso)), tsUs, 'CQ');
  }
}
