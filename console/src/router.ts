// Hash routes: the API owns paths like /feeds/{feed}, so the console's own
// places live after `#`, and a reload or a shared link always lands here.
import { signal } from '@preact/signals';

export type Route =
  | { name: 'signin' }
  | { name: 'feeds' }
  | { name: 'feed'; feed: string; tab: FeedTab }
  | { name: 'vulnerability'; feed: string; id: string }
  | { name: 'gate' }
  | { name: 'admin'; section: AdminSection }
  | { name: 'missing'; path: string };

export type FeedTab = 'vulnerabilities' | 'packages' | 'settings';
export type AdminSection = 'sources' | 'types' | 'keys';

const FEED_TABS: FeedTab[] = ['vulnerabilities', 'packages', 'settings'];
const ADMIN_SECTIONS: AdminSection[] = ['sources', 'types', 'keys'];

export interface Location {
  route: Route;
  query: URLSearchParams;
}

export function parse(hash: string): Location {
  const raw = hash.replace(/^#/, '') || '/feeds';
  const [path = '', search = ''] = raw.split('?', 2);
  const query = new URLSearchParams(search);
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  const [first, second, third, fourth] = parts;
  if (first === 'signin' && parts.length === 1) return { route: { name: 'signin' }, query };
  if (first === 'gate' && parts.length === 1) return { route: { name: 'gate' }, query };
  if (first === 'feeds' && parts.length === 1) return { route: { name: 'feeds' }, query };
  if (first === 'feeds' && second) {
    if (parts.length === 2) return { route: { name: 'feed', feed: second, tab: 'vulnerabilities' }, query };
    if (third === 'vulnerabilities' && fourth && parts.length === 4) {
      return { route: { name: 'vulnerability', feed: second, id: fourth }, query };
    }
    if (parts.length === 3 && FEED_TABS.includes(third as FeedTab)) {
      return { route: { name: 'feed', feed: second, tab: third as FeedTab }, query };
    }
  }
  if (first === 'admin') {
    if (parts.length === 1) return { route: { name: 'admin', section: 'sources' }, query };
    if (parts.length === 2 && ADMIN_SECTIONS.includes(second as AdminSection)) {
      return { route: { name: 'admin', section: second as AdminSection }, query };
    }
  }
  return { route: { name: 'missing', path }, query };
}

/** The hash of a route, with an optional query (empty values left out). */
export function href(route: Route, query?: Record<string, string | number | null | undefined>): string {
  let path: string;
  switch (route.name) {
    case 'signin':
      path = '/signin';
      break;
    case 'feeds':
      path = '/feeds';
      break;
    case 'feed':
      path = `/feeds/${encodeURIComponent(route.feed)}/${route.tab}`;
      break;
    case 'vulnerability':
      path = `/feeds/${encodeURIComponent(route.feed)}/vulnerabilities/${encodeURIComponent(route.id)}`;
      break;
    case 'gate':
      path = '/gate';
      break;
    case 'admin':
      path = `/admin/${route.section}`;
      break;
    case 'missing':
      path = route.path;
      break;
  }
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(query ?? {})) {
    if (value !== null && value !== undefined && value !== '') search.set(name, String(value));
  }
  const text = search.toString();
  return `#${path}${text ? `?${text}` : ''}`;
}

export const location = signal<Location>(parse(typeof window === 'undefined' ? '' : window.location.hash));

export function navigate(to: string, options: { replace?: boolean } = {}): void {
  if (options.replace) window.history.replaceState(null, '', to);
  else window.history.pushState(null, '', to);
  location.value = parse(window.location.hash);
}

export function listen(): () => void {
  const update = () => {
    location.value = parse(window.location.hash);
  };
  window.addEventListener('hashchange', update);
  window.addEventListener('popstate', update);
  return () => {
    window.removeEventListener('hashchange', update);
    window.removeEventListener('popstate', update);
  };
}
