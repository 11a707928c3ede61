/**
 * What wirelog must log for each recorded lenient-corpus connection, derived from the case table (docs/http1.md's
 * reading of the bytes) and what the client received (the servers' answers), never from wirelog's own output.
 *
 * Pairing (docs/http1.md "Resynchronising"): the messages the client wrote, skipped ones included, take the
 * responses it received in order. A request without a response is logged incomplete (`no-response`, or `reset` when
 * the connection was reset before both FINs); a skipped message without a response is not logged at all (there is
 * nothing of it to log); a skipped message with one is a `no-request` transaction carrying the skip's reason.
 */
import type { Conversation, LenientRecording, ResponseRun } from './lenient-record.js';
import { RESPONSE_CASE_UA } from './lenient-record.js';
import type { TcpEnd } from './tshark.js';
import type { HttpRecord } from '../../src/sinks/schema.js';
import type { ReceivedResponse } from './raw-client.js';
import { HOST, responseCaseBodyBytes, type CaseMessage, type Http1ErrorCode, type ServerVerdict } from './lenient-cases.js';

/** NOT_HTTP_SKIP_LIMIT of docs/http1.md */
export const NOT_HTTP_SKIP_LIMIT = 16 * 1024;

/** Statuses the reference servers use to refuse a message they could not parse or frame. */
export const REJECT_STATUSES: ReadonlySet<number> = new Set([400, 411, 413, 414, 431, 501, 505]);

/**
 * One record wirelog must write: the docs/schema.md fields the corpus judges, by their schema types; the optional ones
 * are not compared when left undefined (see where they are set).
 */
export interface ExpectedRecord extends
  Pick<HttpRecord, 'method' | 'uri' | 'version' | 'host' | 'user_agent' | 'status' | 'reason' | 'res_version' |
    'res_body_bytes' | 'incomplete' | 'anomalies'>,
  Partial<Pick<HttpRecord, 'content_length' | 'req_body_bytes'>> {
  /** index (over all the case's messages) of the message it logs */
  message: number;
}

/** A message the client wrote and the response (if any) that answered it, with the server's verdict on it. */
export interface Pair {
  index: number;
  message: CaseMessage;
  response?: ReceivedResponse;
  verdict: ServerVerdict['verdict'];
}

export interface ConnExpectation {
  conv: Conversation;
  pairs: Pair[];
  records: ExpectedRecord[];
  /** wirelog must judge the connection not HTTP (and log nothing of it) */
  notHttp: boolean;
  /** counters this connection adds (docs/http1.md "Counted, never silent") */
  requests: number;
  responses: number;
  skippedMessages: number;
  /** bytes that are certainly skipped (the skipped messages'); the counter may hold more (see the test) */
  skippedBytesAtLeast: number;
  errors: Partial<Record<Http1ErrorCode, number>>;
}

function verdictOf(r: ReceivedResponse | undefined): ServerVerdict['verdict'] {
  if (r === undefined) return 'none';
  return r.status !== null && REJECT_STATUSES.has(r.status) ? 'reject' : 'accept';
}

/** The expected records and counters of one request-side conversation. `end`: how its TCP connection ended. */
export function expectConversation(c: Conversation, end: TcpEnd | undefined): ConnExpectation {
  const all = c.case.parts.flat();
  const sentCount = c.case.parts.slice(0, c.conv.partsSent).reduce((n, p) => n + p.length, 0);
  const sent = all.slice(0, sentCount);
  const responses = c.responses.slice();
  if (responses.length > sent.length) {
    throw new Error(`case ${c.case.id} on ${c.server}: ${responses.length} responses to ${sent.length} messages`);
  }
  const pairs: Pair[] = sent.map((message, index) => {
    const response = responses[index];
    return { index, message, response, verdict: verdictOf(response) };
  });
  // unsent messages: never answered
  for (let i = sentCount; i < all.length; i++) pairs.push({ index: i, message: all[i]!, verdict: 'none' });
  const x: ConnExpectation = {
    conv: c, pairs, records: [], notHttp: false, requests: 0, responses: 0, skippedMessages: 0, skippedBytesAtLeast: 0, errors: {},
  };
  if (sent.some((m) => m.kind === 'not-http')) {
    if (sent.length !== 1) throw new Error(`case ${c.case.id}: a not-HTTP message must be the connection's only one`);
    x.notHttp = true;
    return x;
  }
  const resetEarly = end !== undefined && end.reset && !end.resetAfterBothFins;
  const count = (code: Http1ErrorCode): void => { x.errors[code] = (x.errors[code] ?? 0) + 1; };
  for (const p of pairs.slice(0, sentCount)) {
    const m = p.message;
    const r = p.response;
    if (r !== undefined) {
      x.responses++;
      if (!r.complete) throw new Error(`case ${c.case.id} on ${c.server}: response ${p.index} incomplete: docs/http1.md does not say what to log`);

    }
    const res = r === undefined
      ? { status: null, reason: null, res_version: null, content_length: null, res_body_bytes: 0 }
      : {
        status: r.status, reason: r.reason, res_version: r.version,
        content_length: r.header('content-length') === undefined ? null : Number(r.header('content-length')),
        res_body_bytes: r.bodyBytes,
      };
    if (m.kind === 'skip') {
      x.skippedMessages++;
      x.skippedBytesAtLeast += m.bytes.length;
      count(m.error);
      if (r === undefined) continue;
      x.records.push({
        message: p.index, method: null, uri: null, version: null, host: null, user_agent: null, ...res,
        incomplete: 'no-request', anomalies: m.anomalies,
      });
    } else if (m.kind === 'request') {
      x.requests++;
      // a request whose body's framing is lost was logged: a parse error, not a skipped message (docs/http1.md)
      if (m.resync) count(m.resync);
      x.records.push({
        message: p.index, method: m.method, uri: m.uri, version: m.version, host: m.host, user_agent: m.userAgent,
        ...(m.reqBodyBytes === undefined ? {} : { req_body_bytes: m.reqBodyBytes }), ...res,
        // a close-delimited answer ended by a reset: where its body ends is not known (docs/http1.md)
        incomplete: r === undefined ? (resetEarly ? 'reset' : 'no-response') : r.framing === 'close' && resetEarly ? 'partial-body' : null,
        anomalies: m.anomalies,
      });
    }
  }
  return x;
}

/** The one record wirelog must write for a response-side run (curl's GET answered by fixed bytes). */
export function expectResponseRun(run: ResponseRun): ExpectedRecord {
  const k = run.case;
  return {
    message: 0, method: 'GET', uri: `/r/${k.id}`, version: 'HTTP/1.1', host: HOST, user_agent: RESPONSE_CASE_UA,
    req_body_bytes: 0, status: k.expect.status, reason: 'OK', res_version: k.expect.resVersion,
    res_body_bytes: responseCaseBodyBytes(k), incomplete: null, anomalies: k.expect.anomalies,
  };
}

/** A server's log entry in one shape: the request as the server understood it, and the status it logged. */
export interface LoggedRequest {
  method: string | null;
  uri: string | null;
  version: string | null;
  host: string | null;
  status: number | null;
}

const orNull = (s: string | null | undefined): string | null => (s === undefined || s === null || s === '' ? null : s);

/**
 * The requests a server logged as understood on one connection (its log entries whose status is not a refusal), in
 * order, empty strings as null. nginx logs refused requests too and h2o some (framing errors after the head): those
 * are left out here, as Node's 'clientError' lines are.
 */
export function loggedRequests(rec: LenientRecording, c: Conversation): LoggedRequest[] {
  const port = c.conv.localPort;
  const ok = (status: number): boolean => !REJECT_STATUSES.has(status);
  switch (c.server) {
    case 'nginx':
      return rec.nginxLog.filter((e) => e.remote_port === port && ok(e.status))
        .sort((a, b) => a.connection_requests - b.connection_requests)
        .map((e) => ({ method: orNull(e.request_method), uri: orNull(e.request_uri), version: orNull(e.server_protocol), host: orNull(e.http_host), status: e.status }));
    case 'h2o':
      return rec.h2oLog.filter((e) => e.remote_port === port && ok(e.status))
        .map((e) => ({ method: orNull(e.method), uri: orNull(e.uri), version: orNull(e.protocol), host: orNull(e.authority), status: e.status }));
    case 'node':
      return rec.nodeLog.filter((e) => e.event === 'request' && e.remotePort === port)
        .map((e) => ({ method: orNull(e.method), uri: orNull(e.url), version: e.httpVersion ? `HTTP/${e.httpVersion}` : null, host: orNull(e.host), status: e.status ?? null }));
  }
}
