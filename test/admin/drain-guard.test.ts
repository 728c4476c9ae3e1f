import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DrainGuard } from '../../src/admin/drain-guard.ts';

test('loopback is always allowed, in every spelling', () => {
  const guard = new DrainGuard('', '');
  for (const address of ['127.0.0.1', '127.8.9.10', '::1', '::ffff:127.0.0.1']) assert.ok(guard.allows(address, undefined), address);
});

test('other addresses are refused unless they are HOST_IP', () => {
  const guard = new DrainGuard('10.1.2.3', '');
  assert.ok(guard.allows('10.1.2.3', undefined));
  assert.ok(guard.allows('::ffff:10.1.2.3', undefined), 'IPv4-mapped form of HOST_IP');
  for (const address of ['10.1.2.4', '::ffff:10.1.2.4', '192.168.0.1', '2001:db8::1', '', undefined]) {
    assert.ok(!guard.allows(address, undefined), String(address));
  }
});

test('a token is accepted from anywhere, only when configured and exact', () => {
  const guard = new DrainGuard('', 's3cret');
  assert.ok(guard.allows('10.9.9.9', 's3cret'));
  for (const token of ['s3cre', 's3cret ', 'S3CRET', '', undefined, ['s3cret']]) {
    assert.ok(!guard.allows('10.9.9.9', token as string | undefined), JSON.stringify(token));
  }
  assert.ok(!new DrainGuard('', '').allows('10.9.9.9', ''), 'no token configured: an empty header is no key');
});
