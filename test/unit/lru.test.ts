// lib/backend/lru.ts: the descriptor budget's least-recently-used order.
import test from 'ava';
import { type LruLinks, LruList } from '../../lib/backend/lru.js';

class Item implements LruLinks<Item> {
  lruPrev: Item | undefined = undefined;
  lruNext: Item | undefined = undefined;
  inLru = false;
  constructor(readonly name: string) {}
}

const order = (l: LruList<Item>) => [...l.oldestFirst()].map((x) => x.name);

test('touch moves to the newest end, delete unlinks, deleting while iterating goes on with the next, clear empties', (t) => {
  const l = new LruList<Item>();
  const [a, b, c, d] = ['a', 'b', 'c', 'd'].map((n) => new Item(n));
  for (const x of [a, b, c]) l.touch(x);
  t.deepEqual(order(l), ['a', 'b', 'c']);
  l.touch(a);
  l.touch(a);
  t.deepEqual(order(l), ['b', 'c', 'a'], 'touched twice, listed once');
  l.delete(c);
  l.delete(c);
  l.delete(d);
  t.deepEqual(order(l), ['b', 'a'], 'deleting twice or what was never in changes nothing more');
  l.touch(d);
  const seen: string[] = [];
  for (const x of l.oldestFirst()) {
    seen.push(x.name);
    l.delete(x);
  }
  t.deepEqual(seen, ['b', 'a', 'd']);
  t.deepEqual(order(l), []);
  for (const x of [a, b]) l.touch(x);
  l.clear();
  t.deepEqual(order(l), []);
  t.false(a.inLru || b.inLru);
  l.touch(b);
  t.deepEqual(order(l), ['b'], 'usable after clear');
});
