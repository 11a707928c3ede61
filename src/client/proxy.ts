/**
 * Proxied connections: `CONNECT host:port HTTP/1.1` through an http:// proxy, or through a TLS tunnel to an
 * https:// proxy (TLS inside TLS for https targets). Plain http targets go through CONNECT too, so the proxy only
 * ever relays bytes and the request on the tunnel is the same as a direct one (nettrace's Go transport would send
 * an absolute-form request instead).
 */
import type { Duplex } from 'node:stream';
import { ClientError } from './options.js';
import { errText } from './socket-trace.js';
import { joinHostPort } from './dialer.js';

/** `scheme://host:port` of a proxy URL (httpRequests[].networkProxy) */
export function proxyAddress(proxy: URL): string {
  const port = proxy.port || (proxy.protocol === 'https:' ? '443' : '80');
  return `${proxy.protocol}//${proxy.hostname}:${port}`;
}

export function proxyPort(proxy: URL): number {
  return Number(proxy.port || (proxy.protocol === 'https:' ? 443 : 80));
}

/** The proxy URL from the config callback's answer; throws WL_ERR_PROXY_URL for anything but http(s). */
export function parseProxy(v: URL | string): URL {
  let u: URL;
  try {
    u = typeof v === 'string' ? new URL(v) : v;
  } catch {
    throw new ClientError('WL_ERR_PROXY_URL', `proxy ${String(v)} is not a URL`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') {
    throw new ClientError('WL_ERR_PROXY_URL', `proxy ${u.href}: only http:// and https:// proxies are supported`);
  }
  return u;
}

/** Sends CONNECT over `stream` and reads the proxy's response head; resolves once the tunnel is open. */
export function connectTunnel(stream: Duplex, proxy: URL, host: string, port: number, timeoutMs?: number): Promise<void> {
  const target = joinHostPort(host, port);
  let head = `CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\n`;
  if (proxy.username || proxy.password) {
    const cred = `${decodeURIComponent(proxy.username)}:${decodeURIComponent(proxy.password)}`;
    head += `Proxy-Authorization: Basic ${Buffer.from(cred).toString('base64')}\r\n`;
  }
  head += '\r\n';
  const where = proxyAddress(proxy);
  return new Promise((resolve, reject) => {
    let buf: Buffer = Buffer.alloc(0);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const done = (err?: Error, rest?: Buffer): void => {
      if (timer) clearTimeout(timer);
      stream.off('data', onData);
      stream.off('error', onError);
      stream.off('close', onClose);
      stream.off('end', onClose);
      if (err) {
        stream.destroy();
        reject(err);
        return;
      }
      stream.pause();
      if (rest && rest.length > 0) stream.unshift(rest);
      resolve();
    };
    const onData = (chunk: Buffer): void => {
      buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) {
        if (buf.length > 64 * 1024) done(new ClientError('WL_ERR_PROXY_CONNECT', `proxy ${where}: CONNECT response head over 64 KiB`));
        return;
      }
      const statusLine = buf.subarray(0, buf.indexOf('\r\n')).toString('latin1');
      const m = /^HTTP\/\d(?:\.\d)? (\d{3})(?: (.*))?$/.exec(statusLine);
      if (!m) {
        done(new ClientError('WL_ERR_PROXY_CONNECT', `proxy ${where}: not an HTTP response to CONNECT ${target}: ${JSON.stringify(statusLine.slice(0, 80))}`));
        return;
      }
      const status = Number(m[1]);
      if (status < 200 || status > 299) {
        done(new ClientError('WL_ERR_PROXY_CONNECT', `proxy ${where} answered CONNECT ${target} with ${status}${m[2] ? ` ${m[2]}` : ''}`));
        return;
      }
      done(undefined, buf.subarray(end + 4));
    };
    const onError = (err: Error): void => done(new ClientError('WL_ERR_PROXY_CONNECT', `proxy ${where}: CONNECT ${target} failed: ${errText(err)}`, { cause: err }));
    const onClose = (): void => done(new ClientError('WL_ERR_PROXY_CONNECT', `proxy ${where} closed the connection before answering CONNECT ${target}`));
    stream.on('data', onData);
    stream.once('error', onError);
    stream.once('close', onClose);
    stream.once('end', onClose);
    if (timeoutMs && timeoutMs > 0) {
      timer = setTimeout(() => done(new ClientError('WL_ERR_PROXY_CONNECT', `proxy ${where}: no answer to CONNECT ${target} within ${timeoutMs} ms`)), timeoutMs);
    }
    stream.write(head);
  });
}
