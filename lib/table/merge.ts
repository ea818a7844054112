// Bringing a process's in-memory table up to a newer generation written by
// another stableid on the same cluster filesystem. Tables only grow: devices
// and prefixes are appended, never changed or removed, so a newer table
// starts with everything an older one holds. One that does not means a writer
// broke the rules (an older stableid without the cluster lock, or a repair
// while servers ran); going on could give one id to two files, so it stops.
import { type TableData, TableCorruptError } from './record.js';

export interface Merged {
  /** Devices and prefixes that were new to `into`. */
  devices: number;
  prefixes: number;
}

/** Append what `fresh` has beyond `into` to `into`, in place; throws TableCorruptError naming `where` if they disagree. */
export function mergeNewer(into: TableData, fresh: TableData, where: string): Merged {
  const bad = (why: string) =>
    new TableCorruptError(where, `${why}: another writer changed the table instead of appending to it (a stableid without the cluster lock, or a repair while servers ran). Stop every stableid on this export, then run \`stableid table verify\``);
  if (fresh.generation < into.generation) throw bad(`generation ${fresh.generation} read back after generation ${into.generation} was written`);
  if (fresh.devices.length < into.devices.length || fresh.prefixes.length < into.prefixes.length)
    throw bad(`generation ${fresh.generation} has ${fresh.devices.length} devices and ${fresh.prefixes.length} prefixes, this process knows ${into.devices.length} and ${into.prefixes.length}`);
  into.devices.forEach((d, i) => {
    if (fresh.devices[i]!.identity !== d.identity) throw bad(`device ${i} is ${fresh.devices[i]!.identity}, was ${d.identity}`);
  });
  into.prefixes.forEach((p, i) => {
    const q = fresh.prefixes[i]!;
    if (q.device !== p.device || q.hi !== p.hi) throw bad(`prefix ${i + 1} is (device ${q.device}, ${q.hi}), was (device ${p.device}, ${p.hi})`);
  });
  const merged = { devices: fresh.devices.length - into.devices.length, prefixes: fresh.prefixes.length - into.prefixes.length };
  into.devices.push(...fresh.devices.slice(into.devices.length));
  for (let i = into.prefixes.length; i < fresh.prefixes.length; i++) into.prefixes.push(fresh.prefixes[i]!);
  into.generation = fresh.generation;
  return merged;
}
