import test from 'ava';
import { FsError, isCode, toErrno } from '../../lib/errno.js';

test('Node error codes map to Linux errnos', (t) => {
  const enoent = Object.assign(new Error('x'), { code: 'ENOENT', errno: -2 });
  t.is(toErrno(enoent), 2);
  t.is(toErrno(new FsError('EXDEV')), 18);
  t.is(toErrno(new FsError('EOVERFLOW')), 75);
  t.is(toErrno(new FsError('ENODATA')), 61);
  t.is(toErrno(new FsError('ENOTSUP')), 95);
});

test('unknown errors become EIO, never pass through', (t) => {
  t.is(toErrno(new TypeError('bug')), 5);
  t.is(toErrno(Object.assign(new Error('odd'), { code: 'ERR_SOMETHING' })), 5);
  t.is(toErrno(undefined), 5);
});

test('isCode matches only the named codes', (t) => {
  t.true(isCode(new FsError('EEXIST'), 'ENOENT', 'EEXIST'));
  t.false(isCode(new Error('x'), 'ENOENT'));
});
