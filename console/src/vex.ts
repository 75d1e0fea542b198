// A feed's VEX export as one file. The API sends an export too big for one
// response in pages, each a whole document, linked by `Link: <…>; rel="next"`
// (docs/vex.md); these pure functions find the next page and merge the pages
// into the one document a scanner reads. An assessment type's VEX fields are
// labelled here too.
import type { Schemas } from './api/client';

export type VexFormat = 'cyclonedx' | 'openvex';

export const VEX_FORMATS: Record<VexFormat, { label: string; mediaType: string; suffix: string }> = {
  cyclonedx: { label: 'CycloneDX 1.6', mediaType: 'application/vnd.cyclonedx+json', suffix: 'vex.cdx.json' },
  openvex: { label: 'OpenVEX 0.2.0', mediaType: 'application/json', suffix: 'vex.openvex.json' },
};

export function isVexFormat(value: unknown): value is VexFormat {
  return value === 'cyclonedx' || value === 'openvex';
}

/** The file a feed's export is saved as: the name the API's Content-Disposition gives. */
export function vexFileName(feed: string, format: VexFormat): string {
  return `${feed}.${VEX_FORMATS[format].suffix}`;
}

/**
 * The target of a Link header's rel="next" (RFC 8288), as written (still
 * relative), or null. A header may hold several links, and a link several rels.
 */
export function nextLink(header: string | null | undefined): string | null {
  if (!header) return null;
  const value = String.raw`(?:"(?:[^"\\]|\\.)*"|[^;,"]*)`;
  const param = String.raw`;\s*([^;,="\s]+)\s*(?:=\s*(${value}))?`;
  const link = new RegExp(String.raw`<([^>]*)>((?:\s*${param})*)`, 'g');
  for (const [, target, params] of header.matchAll(link)) {
    for (const [, name, raw] of params!.matchAll(new RegExp(param, 'g'))) {
      if (name!.toLowerCase() !== 'rel') continue;
      const rels = (raw ?? '').trim().replace(/^"|"$/g, '').toLowerCase().split(/\s+/);
      if (rels.includes('next')) return target!;
    }
  }
  return null;
}

/**
 * The cursor of the next page a Link header names, resolved against the URL
 * of the page that carried it; null on the last page. A link that leaves the
 * export's route (another origin or path), names another format or carries no
 * cursor is refused: the console sends its key to this route only, and a
 * cursor continues only the format it was given with.
 */
export function nextCursorOf(header: string | null | undefined, pageUrl: string, format: VexFormat): string | null {
  const target = nextLink(header);
  if (target === null) return null;
  const base = new URL(pageUrl);
  const next = new URL(target, base);
  const cursor = next.searchParams.get('cursor');
  if (
    next.origin !== base.origin ||
    next.pathname !== base.pathname ||
    (next.searchParams.get('format') ?? 'cyclonedx') !== format ||
    !cursor
  ) {
    throw new Error('The export linked to a next page the console cannot follow.');
  }
  return cursor;
}

type VexDocument = Record<string, unknown>;

function documentOf(page: unknown, index: number): VexDocument {
  if (page && typeof page === 'object' && !Array.isArray(page)) return page as VexDocument;
  throw new Error(`Page ${index + 1} of the export is not a VEX document.`);
}

function listOf(document: VexDocument, key: string): unknown[] {
  const value = document[key];
  return Array.isArray(value) ? value : [];
}

function bomRefOf(component: unknown): string | null {
  if (!component || typeof component !== 'object') return null;
  const ref = (component as Record<string, unknown>)['bom-ref'];
  return typeof ref === 'string' ? ref : null;
}

/**
 * One document of an export's pages, in order. CycloneDX: the first page's
 * fields (bomFormat, serialNumber, metadata, …), every page's components once
 * by bom-ref, every page's vulnerabilities. OpenVEX: the first page's header
 * (@context, @id, author, timestamp, …) and every page's statements. A single
 * page is the document as the API sent it.
 */
export function mergeVex(format: VexFormat, pages: unknown[]): VexDocument {
  const documents = pages.map(documentOf);
  const [first, ...rest] = documents;
  if (!first) throw new Error('The export sent no page.');
  if (rest.length === 0) return first;
  if (format === 'openvex') {
    return { ...first, statements: documents.flatMap((document) => listOf(document, 'statements')) };
  }
  const seen = new Set<string>();
  const components: unknown[] = [];
  for (const component of documents.flatMap((document) => listOf(document, 'components'))) {
    const ref = bomRefOf(component);
    if (ref !== null) {
      if (seen.has(ref)) continue;
      seen.add(ref);
    }
    components.push(component);
  }
  const merged: VexDocument = { ...first };
  if (documents.some((document) => 'components' in document)) merged.components = components;
  merged.vulnerabilities = documents.flatMap((document) => listOf(document, 'vulnerabilities'));
  return merged;
}

type AssessmentTypeView = Schemas['AssessmentTypeView'];
export type VexStatus = NonNullable<AssessmentTypeView['vex_status']>;
export type VexJustification = NonNullable<AssessmentTypeView['vex_justification']>;

/** OpenVEX's statuses, as a person reads them (docs/vex.md). */
export const VEX_STATUS_LABEL: Record<VexStatus, string> = {
  not_affected: 'Not affected',
  affected: 'Affected',
  fixed: 'Fixed',
  under_investigation: 'Under investigation',
};

/** OpenVEX's justifications of not_affected, as a person reads them. */
export const VEX_JUSTIFICATION_LABEL: Record<VexJustification, string> = {
  component_not_present: 'The component is not present',
  vulnerable_code_not_present: 'The vulnerable code is not present',
  vulnerable_code_not_in_execute_path: 'The vulnerable code is not in the execute path',
  vulnerable_code_cannot_be_controlled_by_adversary: 'The vulnerable code cannot be controlled by an adversary',
  inline_mitigations_already_exist: 'Inline mitigations already exist',
};
