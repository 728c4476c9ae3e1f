import { test } from 'node:test';
import assert from 'node:assert/strict';
import { peerAddress } from '../../src/listeners/address.ts';

test('an IPv4 peer on a dual-stack socket is written as IPv4; IPv6 and plain IPv4 as they are; unknown when missing', () => {
  assert.equal(peerAddress('::ffff:10.0.0.7'), '10.0.0.7');
  assert.equal(peerAddress('10.0.0.7'), '10.0.0.7');
  assert.equal(peerAddress('::1'), '::1');
  assert.equal(peerAddress('::ffff:abcd'), '::ffff:abcd', 'not an IPv4 after the prefix');
  assert.equal(peerAddress(undefined), 'unknown');
  assert.equal(peerAddress('', '-'), '-');
});
