// CRC32C (fast-crc32c: SSE4.2 when the CPU has it, else pure JS) and the
// xxhash64 fingerprint of a device identity. Both packages are CommonJS.
import { createRequire } from 'node:module';
import XXH from 'xxhashjs';

const require = createRequire(import.meta.url);
const crc: { calculate(buf: Buffer | string, initial?: number): number } = require('fast-crc32c');

/** CRC32C of the buffers concatenated (no copy: the CRC is continued across them). */
export function crc32c(...bufs: Buffer[]): number {
  let c = 0;
  for (const b of bufs) c = crc.calculate(b, c);
  return c >>> 0;
}

/** xxhash64 (seed 0) of a UTF-8 string, as an unsigned bigint. */
export function fingerprint(text: string): bigint {
  return BigInt(`0x${XXH.h64(text, 0).toString(16)}`);
}
