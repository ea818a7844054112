// A mapper for front-end tests that must not depend on the persistent table:
// prefixes allocated in memory, keyed by raw st_dev (fine within one process).
import { composeId, type IdMapper } from '../../lib/mapper/mapper.js';

export class FakeMapper implements IdMapper {
  private readonly prefixes = new Map<string, number>();
  constructor(rootDev: bigint) {
    this.prefixes.set(`${rootDev}:0`, 0);
  }
  knownId(dev: bigint, ino: bigint): bigint | undefined {
    const p = this.prefixes.get(`${dev}:${ino >> 48n}`);
    return p === undefined ? undefined : composeId(p, ino);
  }
  async idFor(dev: bigint, ino: bigint): Promise<bigint> {
    const key = `${dev}:${ino >> 48n}`;
    let p = this.prefixes.get(key);
    if (p === undefined) this.prefixes.set(key, (p = this.prefixes.size));
    return composeId(p, ino);
  }
  isReservedXattr(name: string): boolean {
    return name.startsWith('user.stableid.');
  }
  isReservedName(name: string): boolean {
    return name === '.stableid.lock';
  }
  async close(): Promise<void> {}
}
