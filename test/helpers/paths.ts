import { fileURLToPath } from 'node:url';
import path from 'node:path';

/** Repository root, from compiled tests in dist/test/** or sources alike. */
export const repoRoot: string = (() => {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (dir !== '/' && !dir.endsWith(path.sep + 'dist') && path.basename(dir) !== 'dist') dir = path.dirname(dir);
  return path.basename(dir) === 'dist' ? path.dirname(dir) : path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
})();

export const fixturesDir = path.join(repoRoot, 'test', 'fixtures');
export const cliPath = path.join(repoRoot, 'dist', 'src', 'cli', 'main.js');
export const sensorPath = path.join(repoRoot, 'build', 'wirelog-sensor');
