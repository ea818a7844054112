// Hostile client (issue 8), race loops: a user who can write SRC flips, on
// SRC, a file of its own between a fresh regular file and a symlink to a
// root-owned file outside SRC, and a directory of its own between a fresh
// directory and a symlink to a root-owned directory outside SRC, while it
// chmods (setuid bits), truncates, sets times, opens (read and write) and
// creates those names through the allow_other mount. Bounded in time, at
// least MIN_ATTEMPTS attempts per trick. Pass: no canary changed or read, the
// mount still answers.
//
// On main all five fail: the server checks one object and acts on another
// (lstat, then chmod/truncate on the path), and every path is resolved again
// through whatever symlink is there at the time: the outside file gets mode
// 06777, is truncated, gets new times, is read and written; files appear in
// the outside directory. The create (and sometimes the open) race also
// drives the server to 100% CPU and GBs of memory: requests stall for 15-45 s
// or the server dies (ENOTCONN).
import test from 'ava';
import { join } from 'node:path';
import { mkdir, writeFile, chown } from 'node:fs/promises';
import { canMount } from '../helpers/mount-fixture.js';
import { hostileMount } from '../helpers/hostile-mount.js';
import { type AttackReport, assertUnprivileged, attack, hostileUser, userDir } from '../helpers/hostile-user.js';
import { verdict } from '../helpers/hostile-verdict.js';

const gate = await canMount('fuse');
const serial = gate.ok ? test.serial : test.skip;
const why = gate.ok ? '' : ` (skipped: ${gate.reason})`;

// Each trick stops at MAX_ATTEMPTS or after SECONDS (HOSTILE_RACE_SECONDS), whichever comes first.
const SECONDS = Number(process.env.HOSTILE_RACE_SECONDS ?? 60); // room for a loaded 2-core CI machine; a fast one stops at MAX_ATTEMPTS
const MIN_ATTEMPTS = 20_000;
const MAX_ATTEMPTS = MIN_ATTEMPTS;

for (const op of ['chmod', 'truncate', 'utimes', 'open', 'create']) {
  serial(`race: symlink swaps on SRC against ${op} through the mount never reach outside SRC${why}`, async (t) => {
    const user = await hostileUser(t); // first: removed after the mount is gone (a hung client of it keeps the user busy)
    // No kernel caching: every attempt makes the server resolve the swapped names again (lookups race too).
    const h = await hostileMount(t, { layout: { files: ['file-a'], dirFiles: ['f'] }, options: ['entry_timeout=0', 'attr_timeout=0'] });
    if (op === 'chmod') await assertUnprivileged(t, user, h.canaries);
    const srcU = await userDir(h.src, 'u', user);
    const f1 = await userDir(srcU, 'f1', user);
    await mkdir(join(srcU, 'd'));
    for (const [d, f] of [[f1, join(f1, 'f')], [join(srcU, 'd'), join(srcU, 'd', 'f')]] as const) {
      await writeFile(f, 'own file of the hostile user\n');
      await chown(f, user.uid, user.gid);
      await chown(d, user.uid, user.gid);
    }
    const budget = (SECONDS + 15) * 1000;
    const started = Date.now();
    let hung: string | undefined;
    const [swapper, attacker] = await Promise.all([
      attack(user, 'race', ['swap', srcU, h.canaries.file('file-a'), h.canaries.rootdir, String(SECONDS)], budget),
      attack(user, 'race', ['attack', op, join(h.mnt, 'u'), String(SECONDS), String(MAX_ATTEMPTS), join(srcU, '.stop')], budget).catch((err: Error) => {
        hung = err.message; // the attacker was stuck in the mount past its budget
        return { report: { attempts: {}, outcomes: {}, notes: {} } as AttackReport, raw: { stdout: '' } };
      }),
    ]);
    const seconds = (Date.now() - started) / 1000;
    const attempts = Object.values(attacker.report.attempts).reduce((a, b) => a + b, 0);
    t.log(`${attempts} attempts and ${String(swapper.report.notes.swaps)} swaps in ${seconds.toFixed(1)} s: ${JSON.stringify(attacker.report.outcomes)}, slowest ${JSON.stringify(attacker.report.notes.slowest)}`);
    await verdict(t, { canaries: h.canaries, alive: h.alive, output: attacker.raw.stdout, reports: [attacker.report, swapper.report], attempts: { made: attempts, min: MIN_ATTEMPTS }, more: hung ? [hung] : [] });
  });
}
