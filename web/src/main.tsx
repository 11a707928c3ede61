/** The explorer's page: a header with the pages, and the page of the hash route. */
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { getJson } from './api';
import { href, useRoute } from './route';
import { ListPage } from './list';
import { RequestPage } from './request';
import { LadderPage } from './ladder';
import { TopologyPage } from './topology';
import { RecordsPage } from './records';

// the token came in the address once (it is in the cookie now): keep it out of the history and of screenshots
if (new URLSearchParams(location.search).has('token')) history.replaceState(null, '', location.pathname + location.hash);

function Header() {
  const [stats, setStats] = useState<{ store: string; rows: Record<string, number> } | null>(null);
  useEffect(() => { getJson<{ store: string; rows: Record<string, number> }>('/api/stats').then(setStats, () => setStats(null)); }, []);
  return (
    <header>
      <span class="brand">wirelog</span>
      <nav>
        <a href={href('/')} data-testid="nav-list">requests</a>
        <a href={href('/topology')} data-testid="nav-topology">topology</a>
        <a href={href('/l4')} data-testid="nav-l4">connections (L4)</a>
        <a href={href('/tls')} data-testid="nav-tls">TLS</a>
      </nav>
      {stats !== null && <span class="store" data-testid="store-stats">{stats.store} · {stats.rows.l7} L7 · {stats.rows.l4} L4 · {stats.rows.tls} TLS</span>}
    </header>
  );
}

function App() {
  const route = useRoute();
  return (
    <>
      <Header />
      <main>
        {route.page === 'list' && <ListPage route={route} />}
        {route.page === 'request' && <RequestPage id={route.id!} />}
        {route.page === 'ladder' && <LadderPage route={route} />}
        {route.page === 'topology' && <TopologyPage route={route} />}
        {route.page === 'l4' && <RecordsPage route={route} record="l4" />}
        {route.page === 'tls' && <RecordsPage route={route} record="tls" />}
      </main>
    </>
  );
}

render(<App />, document.getElementById('app')!);
