import { PcapngParser } from '../../src/decode/pcapng.js';
import { captureFileTarget } from './pcap.js';

export const target = captureFileTarget('pcapng', (on) => new PcapngParser(on));
