// A slot is one generation of the table: chunks 0..count-1 that agree on
// generation and count. Two slots ("a" for odd generations, "b" for even) live
// side by side, so writing one never touches the last good table in the other.
import { type ChunkHeader, decodeChunk, TableCorruptError } from './record.js';

export type Slot =
  | { state: 'complete'; generation: bigint; flags: number; prefixCount: number; payload: Buffer }
  | { state: 'incomplete'; reason: string; /** highest generation among its chunks */ generation: bigint }
  | { state: 'empty' };

/**
 * Assemble a slot from its raw chunks, keyed by chunk index. A chunk that fails
 * its own checks throws (damage: refuse). Chunks that are fine one by one but
 * disagree, or a missing chunk, mean a write stopped halfway: 'incomplete'.
 */
export function assembleSlot(raw: Map<number, Buffer>, nameOf: (index: number) => string): Slot {
  if (raw.size === 0) return { state: 'empty' };
  const chunks = new Map<number, { header: ChunkHeader; payload: Buffer }>();
  for (const [i, buf] of raw) {
    const c = decodeChunk(buf, nameOf(i));
    if (c.header.index !== i) throw new TableCorruptError(nameOf(i), `holds chunk ${c.header.index}, not ${i}`);
    chunks.set(i, c);
  }
  let newest = 0n;
  for (const c of chunks.values()) if (c.header.generation > newest) newest = c.header.generation;
  const first = chunks.get(0);
  if (!first) return { state: 'incomplete', reason: `${nameOf(0)} is missing`, generation: newest };
  const { count, generation, flags, prefixCount } = first.header;
  const parts: Buffer[] = [];
  for (let i = 0; i < count; i++) {
    const c = chunks.get(i);
    if (!c) return { state: 'incomplete', reason: `${nameOf(i)} is missing (chunk ${i} of ${count})`, generation: newest };
    const h = c.header;
    if (h.generation !== generation || h.count !== count || h.flags !== flags || h.prefixCount !== prefixCount)
      return { state: 'incomplete', reason: `${nameOf(i)} belongs to generation ${h.generation}, ${nameOf(0)} to ${generation}`, generation: newest };
    parts.push(c.payload);
  }
  // Chunks past the end from a newer generation: a longer write of this slot started and stopped.
  // (Older ones are leftovers of a longer table, removed after each write; harmless.)
  if (newest > generation) return { state: 'incomplete', reason: `a write of generation ${newest} over generation ${generation} did not finish`, generation: newest };
  return { state: 'complete', generation, flags, prefixCount, payload: Buffer.concat(parts) };
}
