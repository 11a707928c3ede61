/** Where the sensor binary is: $WIRELOG_SENSOR, else build/wirelog-sensor of this install (one lookup for every command). */
import { fileURLToPath } from 'node:url';

export function sensorPath(env: NodeJS.ProcessEnv = process.env): string {
  if (env.WIRELOG_SENSOR !== undefined && env.WIRELOG_SENSOR !== '') return env.WIRELOG_SENSOR;
  // this file is dist/src/source/sensor-path.js
  return fileURLToPath(new URL('../../../build/wirelog-sensor', import.meta.url));
}
