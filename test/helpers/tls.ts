/**
 * A throw-away test PKI made with the `openssl` command: a CA and one server certificate (EC P-256, fast to make)
 * whose SANs cover localhost, 127.0.0.1 and ::1. Clients trust it with `curl --cacert pki.caCert` or Node's `ca`.
 */
import { writeFile, readFile } from 'node:fs/promises';
import path from 'node:path';
import { Scope, runOk } from './proc.js';

export interface TestPki {
  dir: string;
  /** CA certificate (PEM file) to trust */
  caCert: string;
  /** server certificate (PEM file), signed by the CA */
  serverCert: string;
  /** server private key (PEM file, unencrypted) */
  serverKey: string;
  /** server certificate followed by the CA (for servers that want a chain file) */
  chainCert: string;
  /** PEM contents, for in-process clients/servers */
  caPem: string;
  certPem: string;
  keyPem: string;
}

const SERVER_EXT = [
  'basicConstraints=critical,CA:FALSE',
  'keyUsage=critical,digitalSignature,keyEncipherment',
  'extendedKeyUsage=serverAuth',
  'subjectAltName=DNS:localhost,DNS:www.wirelog.test,IP:127.0.0.1,IP:::1',
  '',
].join('\n');

/** Make a CA and a localhost server certificate in a temp dir owned by `scope` (removed when it closes). */
export async function makeTestPki(scope: Scope): Promise<TestPki> {
  const dir = await scope.tempDir('wirelog-pki-');
  const f = (n: string): string => path.join(dir, n);
  const ossl = (args: string[]): Promise<unknown> => runOk('openssl', args, { timeoutMs: 30_000 });
  await ossl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', f('ca.key')]);
  await ossl(['req', '-x509', '-new', '-key', f('ca.key'), '-sha256', '-days', '2', '-subj', '/CN=wirelog test CA',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign', '-out', f('ca.crt')]);
  // PKCS#8 key: every server here (nginx, h2o, node) reads it
  await ossl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', f('server.key')]);
  await ossl(['req', '-new', '-key', f('server.key'), '-subj', '/CN=localhost', '-out', f('server.csr')]);
  await writeFile(f('server.ext'), SERVER_EXT);
  await ossl(['x509', '-req', '-in', f('server.csr'), '-CA', f('ca.crt'), '-CAkey', f('ca.key'), '-CAcreateserial',
    '-days', '2', '-sha256', '-extfile', f('server.ext'), '-out', f('server.crt')]);
  const [caPem, certPem, keyPem] = await Promise.all(['ca.crt', 'server.crt', 'server.key'].map((n) => readFile(f(n), 'utf8')));
  await writeFile(f('chain.crt'), certPem! + caPem!);
  return {
    dir, caCert: f('ca.crt'), serverCert: f('server.crt'), serverKey: f('server.key'), chainCert: f('chain.crt'),
    caPem: caPem!, certPem: certPem!, keyPem: keyPem!,
  };
}
