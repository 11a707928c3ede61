import { isHttp1Response } from '../seeds.js';
import { http1Target } from './http1-request.js';

export const target = http1Target('http1-response', 2, isHttp1Response);
