import { describe, expect, it } from 'vitest';
import { href, parse } from './router';

describe('hash routes', () => {
  it('lands on the feeds with no hash', () => {
    expect(parse('').route).toEqual({ name: 'feeds' });
  });

  it('reads a feed tab and its filters', () => {
    const { route, query } = parse('#/feeds/payments/vulnerabilities?status=expired&min_cvss=7');
    expect(route).toEqual({ name: 'feed', feed: 'payments', tab: 'vulnerabilities' });
    expect(query.get('status')).toBe('expired');
    expect(query.get('min_cvss')).toBe('7');
  });

  it('round-trips a vulnerability id that needs encoding', () => {
    const route = { name: 'vulnerability', feed: 'demo', id: 'sonatype-2020/1#x' } as const;
    expect(parse(href(route)).route).toEqual(route);
  });

  it('leaves empty filters out of the hash', () => {
    expect(href({ name: 'feed', feed: 'demo', tab: 'vulnerabilities' }, { status: '', min_cvss: 9, package: null })).toBe(
      '#/feeds/demo/vulnerabilities?min_cvss=9',
    );
  });

  it('calls an unknown place missing', () => {
    expect(parse('#/feeds/demo/nowhere').route).toEqual({ name: 'missing', path: '/feeds/demo/nowhere' });
    expect(parse('#/admin/secrets').route.name).toBe('missing');
  });
});
