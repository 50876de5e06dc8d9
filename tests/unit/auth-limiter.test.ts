import { describe, expect, it } from 'vitest';
import { AuthLimiter, isUnguessableToken, sourceKey } from '../../coordinator/http/auth-limiter.js';

describe('the authentication rate limiter', () => {
  it('keys IPv4 by address and IPv6 by /64', () => {
    expect(sourceKey('203.0.113.5')).toBe('203.0.113.5');
    expect(sourceKey('::ffff:203.0.113.5')).toBe('203.0.113.5');
    expect(sourceKey('2001:db8:1:2::1')).toBe('2001:db8:1:2::/64');
    expect(sourceKey('2001:0db8:0001:0002:ffff:0:0:9')).toBe('2001:db8:1:2::/64');
    expect(sourceKey('2001:db8::1')).toBe('2001:db8:0:0::/64');
    expect(sourceKey('::1')).toBe('0:0:0:0::/64');
    expect(sourceKey('fe80::1%eth0')).toBe('fe80:0:0:0::/64');
    expect(sourceKey('2001:db8:1:3::1')).not.toBe(sourceKey('2001:db8:1:2::1'));
  });

  it('blocks a source after the allowed failures, for the rest of the window', () => {
    const limiter = new AuthLimiter(3, 60_000);
    for (let i = 0; i < 3; i++) limiter.fail('a', 1000);
    expect(limiter.blockedFor('a', 2000)).toBe(59_000);
    expect(limiter.blockedFor('b', 2000)).toBe(0);
    expect(limiter.blockedFor('a', 61_000)).toBe(0);
  });

  it('tells the tokens it issues (unguessable) from others', () => {
    const id = '3f0c2b9e-8a4d-4e6f-9b1a-2c3d4e5f6a7b';
    expect(isUnguessableToken(`pwa_${id}.${'A'.repeat(43)}`)).toBe(true);
    expect(isUnguessableToken(`pwo_${id}.${'A'.repeat(43)}`)).toBe(true);
    expect(isUnguessableToken(`pwe_${'A'.repeat(43)}`)).toBe(true);
    expect(isUnguessableToken('correct horse battery staple')).toBe(false);
    expect(isUnguessableToken(`pwo_${id}.short`)).toBe(false);
    expect(isUnguessableToken(undefined)).toBe(false);
  });
});
