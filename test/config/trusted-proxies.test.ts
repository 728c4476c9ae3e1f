/** TRUSTED_PROXIES parsing and matching: `private`, `none`, addresses, CIDRs, both families. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseTrustedProxies } from '../../src/config/trusted-proxies.ts';
import { loadConfig } from '../../src/config/index.ts';

test('private: loopback, RFC 1918, 100.64/10, link-local, ::1, fc00::/7 and fe80::/10; nothing public', () => {
  const trusted = parseTrustedProxies('private');
  for (const address of ['127.0.0.1', '127.9.9.9', '10.1.2.3', '172.16.0.1', '172.31.255.254', '192.168.1.1', '100.64.0.1', '100.127.255.254', '169.254.1.1', '::1', 'fd12:3456::1', 'fc00::1', 'fe80::1']) {
    assert.equal(trusted.includes(address), true, address);
  }
  for (const address of ['8.8.8.8', '172.32.0.1', '100.128.0.1', '192.169.0.1', '203.0.113.9', '2001:db8::1', '::2', 'unknown', '']) {
    assert.equal(trusted.includes(address), false, address);
  }
});

test('none trusts nobody, loopback included', () => {
  const trusted = parseTrustedProxies('none');
  assert.equal(trusted.includes('127.0.0.1'), false);
  assert.equal(trusted.includes('::1'), false);
});

test('addresses and CIDRs of both families, combined with private, spaces and case ignored', () => {
  const trusted = parseTrustedProxies(' 203.0.113.0/24 , 198.51.100.7, 2001:DB8::/32,private ');
  assert.equal(trusted.includes('203.0.113.200'), true);
  assert.equal(trusted.includes('203.0.114.1'), false);
  assert.equal(trusted.includes('198.51.100.7'), true);
  assert.equal(trusted.includes('198.51.100.8'), false);
  assert.equal(trusted.includes('2001:db8:ffff::1'), true);
  assert.equal(trusted.includes('10.0.0.1'), true, 'private still in');
  assert.equal(trusted.text, '203.0.113.0/24,198.51.100.7,2001:db8::/32,private');
});

test('the default is private; invalid values are refused naming the variable', () => {
  assert.equal(loadConfig({}).trustedProxies.includes('10.0.0.1'), true);
  assert.equal(loadConfig({}).trustedProxies.includes('203.0.113.1'), false);
  for (const bad of ['everyone', '10.0.0.0/33', '::1/129', '300.1.2.3', 'none,private', '10.0.0.0/8,', '10.0.0.0/-1']) {
    assert.throws(() => loadConfig({ TRUSTED_PROXIES: bad }), /^ConfigError: invalid TRUSTED_PROXIES=.*expected private, none, or comma-separated addresses and CIDRs/, bad);
  }
});
