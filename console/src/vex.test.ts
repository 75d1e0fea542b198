import { describe, expect, it } from 'vitest';
import { mergeVex, nextCursorOf, nextLink, vexFileName } from './vex';

const component = (purl: string) => ({ type: 'library', 'bom-ref': purl, purl, name: purl.split('/').at(-1) });
const vulnerability = (id: string, ...refs: string[]) => ({
  id,
  affects: refs.map((ref) => ({ ref })),
  analysis: { state: 'in_triage' },
});

function cyclonedxPage(serial: string, components: unknown[], vulnerabilities: unknown[]) {
  return {
    bomFormat: 'CycloneDX',
    specVersion: '1.6',
    serialNumber: `urn:uuid:${serial}`,
    version: 1,
    metadata: { timestamp: `2026-12-07T02:0${serial.length}:00Z`, component: { 'bom-ref': 'feedguard:feed:demo' } },
    components,
    vulnerabilities,
  };
}

function openvexPage(id: string, statements: unknown[]) {
  return {
    '@context': 'https://openvex.dev/ns/v0.2.0',
    '@id': `urn:uuid:${id}`,
    author: 'feedguard (feed demo)',
    timestamp: `2026-12-07T02:00:0${id.length}Z`,
    version: 1,
    tooling: 'feedguard',
    statements,
  };
}

describe('merging the pages of a VEX export', () => {
  it('joins two CycloneDX pages: the first page header, every vulnerability in order, each component once', () => {
    const log4j = component('pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1');
    const jackson = component('pkg:maven/com.fasterxml.jackson.core/jackson-databind@2.9.8');
    const lodash = component('pkg:npm/lodash@4.17.20');
    const first = cyclonedxPage('one', [log4j, jackson], [vulnerability('CVE-2021-44228', log4j['bom-ref'])]);
    const second = cyclonedxPage(
      'second',
      [{ ...jackson }, lodash],
      [vulnerability('CVE-2022-1471', jackson['bom-ref']), vulnerability('CVE-2024-1', lodash['bom-ref'])],
    );

    const merged = mergeVex('cyclonedx', [first, second]);

    expect(merged.serialNumber).toBe('urn:uuid:one');
    expect(merged.metadata).toEqual(first.metadata);
    expect(merged.bomFormat).toBe('CycloneDX');
    expect(merged.specVersion).toBe('1.6');
    expect((merged.vulnerabilities as { id: string }[]).map((v) => v.id)).toEqual([
      'CVE-2021-44228',
      'CVE-2022-1471',
      'CVE-2024-1',
    ]);
    expect(merged.components).toEqual([log4j, jackson, lodash]);
    // The pages themselves are left as they were
    expect(first.vulnerabilities).toHaveLength(1);
    expect(second.components).toHaveLength(2);
  });

  it('removes a component repeated within and across pages, keeping components without a bom-ref', () => {
    const shared = component('pkg:npm/minimist@1.2.5');
    const unnamed = { type: 'library', name: 'no-ref' };
    const merged = mergeVex('cyclonedx', [
      cyclonedxPage('a', [shared, { ...shared }], []),
      cyclonedxPage('b', [{ ...shared }, unnamed], [vulnerability('CVE-2021-44906', shared['bom-ref'])]),
      cyclonedxPage('c', [{ ...shared }], []),
    ]);

    expect(merged.components).toEqual([shared, unnamed]);
    expect(merged.vulnerabilities).toHaveLength(1);
  });

  it('joins OpenVEX pages: the first page header fields, every statement in order', () => {
    const statement = (name: string) => ({ vulnerability: { name }, products: [], status: 'under_investigation' });
    const first = openvexPage('first', [statement('CVE-1'), statement('CVE-2')]);
    const second = openvexPage('other', [statement('CVE-3')]);

    const merged = mergeVex('openvex', [first, second]);

    const { statements, ...header } = merged;
    const { statements: _, ...firstHeader } = first;
    expect(header).toEqual(firstHeader);
    expect((statements as { vulnerability: { name: string } }[]).map((s) => s.vulnerability.name)).toEqual([
      'CVE-1',
      'CVE-2',
      'CVE-3',
    ]);
  });

  it('hands a single page back as the API sent it', () => {
    const only = cyclonedxPage('only', [component('pkg:npm/a@1'), component('pkg:npm/a@1')], []);
    expect(mergeVex('cyclonedx', [only])).toBe(only);
    const openvex = openvexPage('only', []);
    expect(mergeVex('openvex', [openvex])).toBe(openvex);
  });

  it('refuses a page that is not a document', () => {
    expect(() => mergeVex('openvex', [openvexPage('a', []), 'oops'])).toThrow('Page 2 of the export is not a VEX document.');
    expect(() => mergeVex('openvex', [])).toThrow();
  });
});

describe('following the pages of a VEX export', () => {
  const page = 'https://console.example/feeds/demo/vex?format=cyclonedx';

  it('reads the next link among others, in any case, with several rels', () => {
    expect(nextLink('<vex?format=openvex&cursor=abc>; rel="next"')).toBe('vex?format=openvex&cursor=abc');
    expect(nextLink('<first>; rel=first, <vex?cursor=b>; title="page, 2"; REL="last Next"')).toBe('vex?cursor=b');
    expect(nextLink('<vex?cursor=b>; rel="prev"')).toBeNull();
    expect(nextLink(null)).toBeNull();
    expect(nextLink('')).toBeNull();
  });

  it("finds the next page's cursor relative to the page's URL", () => {
    expect(nextCursorOf('<vex?format=cyclonedx&cursor=Q1ZFLTIwMjE%3D>; rel="next"', page, 'cyclonedx')).toBe(
      'Q1ZFLTIwMjE=',
    );
    // Behind a stage path the link stays under it
    expect(
      nextCursorOf('<vex?format=openvex&cursor=x>; rel="next"', 'https://api.example/Prod/feeds/demo/vex?format=openvex', 'openvex'),
    ).toBe('x');
    expect(nextCursorOf(null, page, 'cyclonedx')).toBeNull();
  });

  it('refuses a link that leaves the export route, changes format or has no cursor', () => {
    for (const link of [
      '<https://elsewhere.example/feeds/demo/vex?format=cyclonedx&cursor=x>; rel="next"',
      '<../other/vex?format=cyclonedx&cursor=x>; rel="next"',
      '<vex?format=openvex&cursor=x>; rel="next"',
      '<vex?format=cyclonedx>; rel="next"',
    ]) {
      expect(() => nextCursorOf(link, page, 'cyclonedx'), link).toThrow('cannot follow');
    }
  });

  it("names the file as the API's Content-Disposition does", () => {
    expect(vexFileName('payments', 'cyclonedx')).toBe('payments.vex.cdx.json');
    expect(vexFileName('payments', 'openvex')).toBe('payments.vex.openvex.json');
  });
});
