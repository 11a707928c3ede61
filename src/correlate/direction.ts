/**
 * Who is the client of a connection, and whether it is CQ or SQ.
 *
 * Client: the SYN sender when the handshake was seen ('syn'; a SYN-ACK alone also tells: its receiver is the
 * client); else the side whose port is not a service port when exactly one port is ('port'); else the side that
 * speaks first with a request line, or the other side when the first start line seen is a status line ('content').
 * Kind: 'CQ' when the server address is one of this host's (so loopback traffic is CQ), else 'SQ'.
 */
import type { ConnInfo } from '../records.js';
import type { Endpoint } from '../track/flow.js';

export type DecidedBy = ConnInfo['decidedBy'];

/** Client side (0 = endpoint a, 1 = endpoint b) by service ports, or -1 when the ports do not tell. */
export function clientSideByPorts(aPort: number, bPort: number, servicePorts: Set<number> | 'any'): -1 | 0 | 1 {
  if (servicePorts === 'any') return -1;
  const aSvc = servicePorts.has(aPort);
  const bSvc = servicePorts.has(bPort);
  if (aSvc === bSvc) return -1;
  return aSvc ? 1 : 0;
}

/** Client side from a SYN: the sender of a bare SYN is the client, the sender of a SYN-ACK is the server. */
export function clientSideBySyn(senderSide: 0 | 1, ack: boolean): 0 | 1 {
  return ack ? ((1 - senderSide) as 0 | 1) : senderSide;
}

export function connKind(serverIp: string, localAddrs: Set<string>): 'CQ' | 'SQ' {
  return localAddrs.has(serverIp) ? 'CQ' : 'SQ';
}

export function makeConnInfo(
  connId: number,
  a: Endpoint,
  b: Endpoint,
  clientSide: 0 | 1,
  family: 4 | 6,
  decidedBy: DecidedBy,
  localAddrs: Set<string>,
  ifname?: string,
  netns?: number,
): ConnInfo {
  const client = clientSide === 0 ? a : b;
  const server = clientSide === 0 ? b : a;
  const info: ConnInfo = {
    connId,
    clientIp: client.ip,
    clientPort: client.port,
    serverIp: server.ip,
    serverPort: server.port,
    family,
    kind: connKind(server.ip, localAddrs),
    decidedBy,
  };
  if (ifname !== undefined) info.ifname = ifname;
  if (netns !== undefined) info.netns = netns;
  return info;
}
