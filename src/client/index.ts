/**
 * wirelog/client: a traced HTTP client for Node (nettrace for Node). See docs/client.md.
 *
 *   const client = createTracedClient({ preferHTTP2: true }, withSockTrace(), withHTTPReqTrace());
 *   const resp = await client.fetch('https://example.com/');
 *   await resp.text();
 *   const { trace } = await client.getTrace('GET https://example.com/');
 */
export { createTracedClient, type TracedClient } from './client.js';
export {
  withLogging, withConntrack, withSockTrace, withDNSQueryTrace, withHTTPReqTrace, withPacketCapture, ClientError,
  type HTTPClientConfig, type TraceOption, type HeaderFieldsMode, type Logger, type NameserverSelector,
  type ProxyRequestInfo,
} from './options.js';
export { WirelogError, WL_ERR, type WlErrorCode } from '../errors.js';
export type { HttpTraceJson, NetTraceJson, TraceID, Timestamp } from './trace.js';
export type { PacketCapture, CapturedPacket } from './packet-capture.js';
