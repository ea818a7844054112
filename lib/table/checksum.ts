// CRC32C (fast-crc32c: SSE4.2 when the CPU has it, else pure JS) and the
// xxhash64 fingerprint of a device identity. Both packages are CommonJS.
import { createRequire } from 'node:module';
import XXH from 'xxhashjs';

const require = createRequire(import.meta.url);
const crc: { calculate(buf: Buffer | string, initial?: number): number } = require('fast-crc32c');

export function crc32c(buf: Buffer): number {
  return crc.calculate(buf) >>> 0;
}

/** xxhash64 (seed 0) of a UTF-8 string, as an unsigned bigint. */
export function fingerprint(text: string): bigint {
  return BigInt(`0x${XXH.h64(text, 0).toString(16)}`);
}
