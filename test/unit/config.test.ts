import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { resolveCapture, parseConfigText, ConfigFileError, type CaptureSettings } from '../../src/cli/config.js';
import { UsageError } from '../../src/cli/args.js';

function tmpConfig(t: { after(fn: () => void): void }, text: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wirelog-config-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'wirelog.conf');
  fs.writeFileSync(file, text);
  return file;
}

function run(argv: string[], env: NodeJS.ProcessEnv = {}, defaultConfigFile = ''): CaptureSettings {
  const cmd = resolveCapture(argv, env, { defaultConfigFile });
  assert.equal(cmd.action, 'run');
  return (cmd as { settings: CaptureSettings }).settings;
}

const FILE = `# wirelog config
iface = eth1
ports = 80,8080
snaplen = 1500
buffer-mb = 16
count = 1000
dir = /var/log/wirelog   # trailing comment
log-split = true
log-every = 5000
format = jsonl
no-reassembly = yes
local-addr = 10.0.0.1, 2001:DB8:0:0::1
verbose = false
`;

test('config file alone sets every setting', (t) => {
  const s = run([], {}, tmpConfig(t, FILE));
  assert.equal(s.iface, 'eth1');
  assert.deepEqual(s.ports, [80, 8080]);
  assert.equal(s.snaplen, 1500);
  assert.equal(s.bufferMb, 16);
  assert.equal(s.count, 1000);
  assert.equal(s.dir, '/var/log/wirelog');
  assert.equal(s.logSplit, true);
  assert.equal(s.logEvery, 5000);
  assert.equal(s.format, 'jsonl');
  assert.equal(s.reassembly, false);
  assert.deepEqual(s.localAddrs, ['10.0.0.1', '2001:db8::1']);
  assert.equal(s.verbose, false);
  assert.ok(s.configFile?.endsWith('wirelog.conf'));
});

test('precedence: flags > environment > config file, per setting', (t) => {
  const file = tmpConfig(t, FILE);
  const env = { WIRELOG_PORTS: '3000', WIRELOG_DIR: '/env/dir', WIRELOG_FORMAT: 'text', WIRELOG_LOG_SPLIT: 'false' };
  const s = run(['--config', file, '-p', '9000', '-p', '9001', '--no-log-split', '--reassembly'], env);
  assert.deepEqual(s.ports, [9000, 9001]); // flag beats env and file, and is not merged with them
  assert.equal(s.dir, '/env/dir'); // env beats file
  assert.equal(s.format, 'text'); // env beats file
  assert.equal(s.logSplit, false); // flag (and env) beat file
  assert.equal(s.reassembly, true); // --reassembly undoes the file's no-reassembly
  assert.equal(s.iface, 'eth1'); // only the file has it
  assert.equal(s.origin.ports, '-p');
  assert.equal(s.origin.dir, 'WIRELOG_DIR');
  assert.match(s.origin.iface, /wirelog\.conf:2: iface$/);
});

test('every environment variable', () => {
  const s = run([], {
    WIRELOG_IFACE: 'lo', WIRELOG_PORTS: 'any', WIRELOG_SNAPLEN: '200', WIRELOG_BUFFER_MB: '4', WIRELOG_COUNT: '7',
    WIRELOG_DIR: '/tmp/x', WIRELOG_LOG_SPLIT: '1', WIRELOG_LOG_EVERY: '10', WIRELOG_FORMAT: 'jsonl',
    WIRELOG_NO_REASSEMBLY: 'true', WIRELOG_LOCAL_ADDR: '192.0.2.1',
  });
  assert.deepEqual(
    [s.iface, s.ports, s.snaplen, s.bufferMb, s.count, s.dir, s.logSplit, s.logEvery, s.format, s.reassembly, s.localAddrs],
    ['lo', 'any', 200, 4, 7, '/tmp/x', true, 10, 'jsonl', false, ['192.0.2.1']],
  );
  // an empty variable counts as unset
  assert.deepEqual(run([], { WIRELOG_PORTS: '' }).ports, [80]);
});

test('defaults: live port 80; with -r any; snaplen 4096, 8 MiB, text, reassembly on', () => {
  const live = run([]);
  assert.deepEqual(live.ports, [80]);
  assert.equal(live.readFile, undefined);
  assert.equal(live.snaplen, 4096);
  assert.equal(live.bufferMb, 8);
  assert.equal(live.format, 'text');
  assert.equal(live.reassembly, true);
  assert.equal(live.logSplit, false);
  assert.equal(live.dir, undefined);
  assert.equal(live.localAddrs, undefined);
  const file = run(['-r', 'x.pcap']);
  assert.equal(file.ports, 'any');
  assert.equal(file.readFile, 'x.pcap');
});

test('httplog-style env files are accepted (KEY=VALUE, export, quotes); unrelated upper-case keys ignored', (t) => {
  const file = tmpConfig(t, 'export WIRELOG_PORTS="8080"\nWIRELOG_LOG_SPLIT=1\nOPTIONS="-x"\nlog_every=3\nlog_split = true\n');
  const s = run(['--config', file]);
  assert.deepEqual(s.ports, [8080]);
  assert.equal(s.logSplit, true);
  assert.equal(s.logEvery, 3);
  // a bare boolean key means true
  assert.equal(parseConfigText('log-split\n', 'f').get('log-split')?.values[0], '');
  assert.equal(run(['--config', tmpConfig(t, 'log-split\n')]).logSplit, true);
});

test('the default config file is read only if it exists', (t) => {
  const file = tmpConfig(t, 'ports = 81\n');
  assert.deepEqual(run([], {}, file).ports, [81]);
  assert.deepEqual(run([], {}, path.join(path.dirname(file), 'missing.conf')).ports, [80]);
});

test('errors name the file and line, the variable, or the flag', (t) => {
  const bad = (argv: string[], env: NodeJS.ProcessEnv, re: RegExp, flag?: RegExp): void => {
    assert.throws(() => resolveCapture(argv, env, { defaultConfigFile: '' }), (e: unknown) => {
      assert.ok(e instanceof UsageError, String(e));
      assert.match(e.message, re);
      if (flag !== undefined) assert.match(e.flag ?? '', flag);
      return true;
    });
  };
  bad(['--config', tmpConfig(t, '# x\nports = 80,http\n')], {}, /wirelog\.conf:2: ports: bad port 'http'/);
  bad(['--config', tmpConfig(t, 'colour = blue\n')], {}, /wirelog\.conf:1: unknown setting 'colour'/);
  bad(['--config', tmpConfig(t, 'WIRELOG_COLOUR=blue\n')], {}, /wirelog\.conf:1: unknown setting WIRELOG_COLOUR/);
  bad(['--config', tmpConfig(t, 'read = x.pcap\n')], {}, /unknown setting 'read'/); // -r is a flag only
  bad(['--config', tmpConfig(t, 'ports =\n')], {}, /wirelog\.conf:1: ports: bad port ''/);
  bad(['--config', tmpConfig(t, 'log-split = maybe\n')], {}, /log-split: expected true or false, got 'maybe'/);
  bad([], { WIRELOG_SNAPLEN: '9000' }, /^WIRELOG_SNAPLEN: snaplen must be 1\.\.4096, got 9000/, /^WIRELOG_SNAPLEN$/);
  bad([], { WIRELOG_FORMAT: 'xml' }, /^WIRELOG_FORMAT: unknown format 'xml'/);
  // a bad value lower down does not matter when a higher place sets the setting
  assert.deepEqual(run(['-p', '80'], { WIRELOG_PORTS: 'nonsense' }).ports, [80]);
});

test('an unreadable --config file is an error (exit 1, not a usage error)', () => {
  assert.throws(() => resolveCapture(['--config', '/nonexistent/wirelog.conf'], {}, {}), (e: unknown) => {
    assert.ok(e instanceof ConfigFileError);
    assert.match(e.message, /config file \/nonexistent\/wirelog\.conf: .*ENOENT/);
    return true;
  });
});

test('--netns: all, or names/paths/inodes (repeatable, comma lists, WIRELOG_NETNS); one line for each misuse', (t) => {
  assert.equal(run(['--netns', 'all']).netns, 'all');
  assert.deepEqual(run(['--netns', 'a,b', '--netns', '/proc/1/ns/net']).netns, ['a', 'b', '/proc/1/ns/net']);
  assert.deepEqual(run([], { WIRELOG_NETNS: '4026531840' }).netns, ['4026531840']);
  assert.deepEqual(run(['--config', tmpConfig(t, 'netns = web, db\n')]).netns, ['web', 'db']);
  assert.equal(run([]).netns, undefined, 'default: this namespace only');
  const bad = (argv: string[], re: RegExp): void => {
    assert.throws(() => resolveCapture(argv, {}, { defaultConfigFile: '' }), (e: unknown) => {
      assert.ok(e instanceof UsageError, String(e));
      assert.match(e.message, re);
      return true;
    });
  };
  bad(['--netns', 'all,web'], /^--netns: 'all' is every namespace: name no others with it$/);
  bad(['--netns', 'all', '-i', 'lo'], /^--netns: every device of the namespaces is watched: drop -i lo$/);
  bad(['--netns', 'web', '-r', 'x.pcap'], /^--netns: live capture only/);
  bad(['--netns', ' , '], /^--netns: needs a namespace, or all$/);
});
