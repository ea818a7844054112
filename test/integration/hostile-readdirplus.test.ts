// Hostile client (issue 8), FUSE only and no access to SRC: an unprivileged
// user on the allow_other mount renames one of its directories away between
// two pages of a listing and puts a symlink to a root-owned directory outside
// SRC in its place. A listing must never move a node: every later request on
// the user's directory must still act on that directory (or fail), never on
// the symlink's target. Pass: after every try no canary changed, none was
// read, and the mount still answers.
//
// On main (path-based core) this fails: every try re-homes the node onto the
// symlink and the requests run as root on the outside directory.
import test from 'ava';
import { join } from 'node:path';
import { canMount } from '../helpers/mount-fixture.js';
import { hostileMount } from '../helpers/hostile-mount.js';
import { assertUnprivileged, attack, hostileUser, userDir } from '../helpers/hostile-user.js';
import { problems } from '../helpers/hostile-verdict.js';

const gate = await canMount('fuse');
const serial = gate.ok ? test.serial : test.skip;
const why = gate.ok ? '' : ` (skipped: ${gate.reason})`;

const NAMES = ['read', 'write', 'chmod', 'utime', 'xattr', 'truncate', 'unlink', 'rename'];
const TRIES = 10;

serial(`a stale readdirplus entry never moves a node onto a symlink: ${TRIES} tries, no canary touched${why}`, async (t) => {
  const user = await hostileUser(t); // first: removed after the mount is gone (a hung client of it keeps the user busy)
  const h = await hostileMount(t, { layout: { files: [], dirFiles: NAMES } });
  await userDir(h.src, 'u', user); // the user's own directory (no other access to SRC)
  const play = join(h.mnt, 'u', 'play');

  await assertUnprivileged(t, user, h.canaries);

  const setup = await attack(user, 'readdirplus', ['setup', play, String(3 * TRIES), NAMES.join(',')]);
  const order = setup.report.notes.order as string[];
  // Victims far down the listing: their entries come in a later page than the first.
  const victims = order.filter((n, i) => /^v\d\d$/.test(n) && i >= 60).slice(0, TRIES);
  t.is(victims.length, TRIES, `enough victims past the first page in ${order.length} entries`);

  const breached: string[] = [];
  for (const [i, victim] of victims.entries()) {
    const { report, raw } = await attack(user, 'readdirplus', ['try', play, victim, h.canaries.rootdir]);
    t.false(report.notes.victim_in_first, `${victim} came after the first page`);
    const found = await problems({ canaries: h.canaries, alive: h.alive, output: raw.stdout, reports: [report] });
    t.log(`try ${i + 1} ${victim}: ${report.notes.victim_in_rest ? 'stale entry in the rest of the listing' : 'no stale entry'}; ${JSON.stringify(report.outcomes)}`);
    if (found.length) {
      breached.push(`try ${i + 1} (${victim}): ${found.join('; ')}`);
      if (found.some((f) => f.startsWith('server no longer answers'))) break;
      await h.canaries.plant(); // independent tries: start the next one from intact canaries
    }
  }
  t.deepEqual(breached, [], `${breached.length} of ${TRIES} tries got somewhere`);
});
