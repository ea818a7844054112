import test from 'ava';
import { DEFAULT_LISTEN, formatListen, parseListen } from '../../lib/ninep/listen.js';

test('listen addresses: tcp with v4, v6 and empty hosts, unix paths', (t) => {
  t.deepEqual(parseListen('tcp:127.0.0.1:5640'), { kind: 'tcp', host: '127.0.0.1', port: 5640 });
  t.deepEqual(parseListen('tcp:[::1]:564'), { kind: 'tcp', host: '::1', port: 564 });
  t.deepEqual(parseListen('tcp::5640'), { kind: 'tcp', host: '127.0.0.1', port: 5640 }, 'empty host is loopback, not every interface');
  t.deepEqual(parseListen('unix:/run/x.sock'), { kind: 'unix', path: '/run/x.sock' });
  t.is(formatListen(parseListen('tcp:[::1]:564')), 'tcp:[::1]:564');
  for (const bad of ['5640', 'tcp:host', 'tcp:1.2.3.4:99999', 'udp:1.2.3.4:5', 'unix:', 'tcp:[::1:5']) {
    t.throws(() => parseListen(bad), { message: /tcp:HOST:PORT|unix:/ }, bad);
  }
});

test('the default address is a unix socket: 9P has no authentication and every local user reaches loopback TCP', (t) => {
  t.is(parseListen(DEFAULT_LISTEN).kind, 'unix');
});
