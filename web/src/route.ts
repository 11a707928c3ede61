/** Hash routes: `#/` (list), `#/request/ID`, `#/ladder?…`, `#/topology?…`, `#/l4?…`, `#/tls?…`; parameters after `?`. */
import { useEffect, useState } from 'preact/hooks';

export interface Route {
  page: 'list' | 'request' | 'ladder' | 'topology' | 'l4' | 'tls';
  id?: string;
  params: URLSearchParams;
}

export function parseRoute(hash: string): Route {
  const h = hash.replace(/^#/, '') || '/';
  const [path, query] = [h.split('?')[0]!, h.includes('?') ? h.slice(h.indexOf('?') + 1) : ''];
  const params = new URLSearchParams(query);
  const parts = path.split('/').filter(Boolean);
  if (parts[0] === 'request' && parts[1] !== undefined) return { page: 'request', id: parts[1], params };
  if (parts[0] === 'ladder') return { page: 'ladder', params };
  if (parts[0] === 'topology') return { page: 'topology', params };
  if (parts[0] === 'l4') return { page: 'l4', params };
  if (parts[0] === 'tls') return { page: 'tls', params };
  return { page: 'list', params };
}

export function href(path: string, params: Record<string, string | number | null | undefined> = {}): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  const s = q.toString();
  return '#' + path + (s ? '?' + s : '');
}

export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(location.hash));
  useEffect(() => {
    const on = (): void => setRoute(parseRoute(location.hash));
    window.addEventListener('hashchange', on);
    return () => window.removeEventListener('hashchange', on);
  }, []);
  return route;
}
