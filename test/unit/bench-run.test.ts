import test from 'ava';
import { normalize, table } from '../bench/run.js';

test('bench runner: 9P lines are compared with diod, info lines are left out of the table', (t) => {
  const a = normalize({ bench: 'walk+getattr', server: 'stableid', value: 300, unit: 'ops/s' }, 'e2e/ninep-vs-diod.bench.js');
  const b = normalize({ bench: 'walk+getattr', server: 'diod', value: 150, unit: 'ops/s' }, 'e2e/ninep-vs-diod.bench.js');
  t.like(a, { bench: 'ninep-vs-diod', name: 'walk+getattr', target: 'stableid', baseline: false, better: 'higher' });
  t.like(b, { baseline: true });
  t.is(normalize({ server: 'diod', negotiatedMsize: 65536 }, 'x.bench.js'), undefined);
  t.regex(table([a!, b!]), /stableid\s+300 ops\/s\s+0\.50x/);
});
