// One verdict per trick, listing every problem at once (ava shows only the
// first failed assertion): canaries changed or read, client operations that
// hung, a server that no longer answers, too few attempts of a race.
import type { ExecutionContext } from 'ava';
import type { Canaries } from './hostile-canaries.js';
import { type AttackReport, HANG_SECONDS } from './hostile-user.js';

export interface Evidence {
  canaries: Canaries;
  /** The fixture's alive() probe. */
  alive: () => Promise<string | undefined>;
  /** Everything the clients got back (their output, data read). */
  output?: string;
  /** Attacker reports, checked for operations that waited HANG_SECONDS or more. */
  reports?: AttackReport[];
  /** A race loop: attempts made, and the least it must make. */
  attempts?: { made: number; min: number };
  /** Problems the test found itself. */
  more?: string[];
}

/** Every problem the evidence shows ([] when the client got nowhere). */
export async function problems(e: Evidence): Promise<string[]> {
  const problems = (await e.canaries.changes()).map((c) => `canary changed: ${c}`);
  problems.push(...e.canaries.leaked(e.output ?? '').map((p) => `canary read by the client: ${p}`));
  for (const r of e.reports ?? []) {
    for (const [op, s] of Object.entries((r.notes.slowest ?? {}) as Record<string, number>)) {
      if (s >= HANG_SECONDS) problems.push(`hang: one ${op} waited ${s} s for the mount`);
    }
  }
  const dead = await e.alive();
  if (dead) problems.push(`server no longer answers: ${dead}`);
  if (e.attempts && e.attempts.made < e.attempts.min) problems.push(`only ${e.attempts.made} attempts (at least ${e.attempts.min})`);
  problems.push(...(e.more ?? []));
  return problems;
}

export async function verdict(t: ExecutionContext, e: Evidence): Promise<void> {
  t.deepEqual(await problems(e), [], 'the hostile client got nowhere');
}
