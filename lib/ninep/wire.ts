// Little-endian 9P primitives. The Reader never throws while decoding: reading
// past the end yields zeros and sets `overrun`, and the decoder checks it once
// per message (the shape of hugelgupf/p9 buffer.go), so a truncated string or
// count in a hostile frame cannot index out of bounds or allocate a huge array.

export class Reader {
  overrun = false;
  private off = 0;
  constructor(private readonly buf: Buffer) {}

  get remaining(): number {
    return this.buf.length - this.off;
  }

  private take(n: number): number {
    const at = this.off;
    if (n > this.buf.length - at) {
      this.overrun = true;
      this.off = this.buf.length;
      return -1;
    }
    this.off += n;
    return at;
  }

  u8(): number {
    const at = this.take(1);
    return at < 0 ? 0 : this.buf[at]!;
  }
  u16(): number {
    const at = this.take(2);
    return at < 0 ? 0 : this.buf.readUInt16LE(at);
  }
  u32(): number {
    const at = this.take(4);
    return at < 0 ? 0 : this.buf.readUInt32LE(at);
  }
  u64(): bigint {
    const at = this.take(8);
    return at < 0 ? 0n : this.buf.readBigUInt64LE(at);
  }
  /** n bytes as a view into the frame (no copy); empty on overrun. */
  bytes(n: number): Buffer {
    const at = this.take(n);
    return at < 0 ? Buffer.alloc(0) : this.buf.subarray(at, at + n);
  }
  /** 9P string: u16 length then UTF-8 bytes. */
  str(): string {
    return this.bytes(this.u16()).toString('utf8');
  }
}

/** Writes into a buffer sized in advance (codec.ts computes the exact size first). */
export class Writer {
  private off = 0;
  constructor(readonly buf: Buffer) {}

  get offset(): number {
    return this.off;
  }
  u8(v: number): void {
    this.buf[this.off++] = v;
  }
  u16(v: number): void {
    this.off = this.buf.writeUInt16LE(v, this.off);
  }
  u32(v: number): void {
    this.off = this.buf.writeUInt32LE(v >>> 0, this.off);
  }
  u64(v: bigint): void {
    this.off = this.buf.writeBigUInt64LE(BigInt.asUintN(64, v), this.off);
  }
  bytes(b: Uint8Array): void {
    this.buf.set(b, this.off);
    this.off += b.length;
  }
  str(s: string): void {
    const n = this.buf.write(s, this.off + 2, 'utf8');
    this.u16(n);
    this.off += n;
  }
}

export const strSize = (s: string): number => 2 + Buffer.byteLength(s, 'utf8');
