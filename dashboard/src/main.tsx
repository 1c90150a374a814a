import { render, type JSX } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { SessionContext, signIn, signOut, storedKey, type Session } from './session';
import { NoticeContext, type Notice } from './ui';
import { Overview } from './pages/overview';
import { Subscriptions } from './pages/subscriptions';
import { Deliveries } from './pages/deliveries';
import { Events } from './pages/events';
import { Channels } from './pages/channels';
import { Keys } from './pages/keys';
import 'uplot/dist/uPlot.min.css';
import './style.css';

/** The pages, by the hash of the address (`#/deliveries?state=dead`): no key, nothing secret, in a URL. */
const PAGES = {
  overview: { title: 'Overview', page: Overview },
  subscriptions: { title: 'Subscriptions', page: Subscriptions },
  deliveries: { title: 'Deliveries', page: Deliveries },
  events: { title: 'Events', page: Events },
  channels: { title: 'Channels', page: Channels },
  keys: { title: 'Keys', page: Keys },
} as const;
type PageName = keyof typeof PAGES;

export interface Route {
  page: PageName;
  params: URLSearchParams;
}

function currentRoute(): Route {
  const [path = '', query = ''] = location.hash.replace(/^#\/?/, '').split('?');
  return { page: path in PAGES ? (path as PageName) : 'overview', params: new URLSearchParams(query) };
}

function useRoute(): Route {
  const [route, setRoute] = useState(currentRoute);
  useEffect(() => {
    const update = (): void => setRoute(currentRoute());
    addEventListener('hashchange', update);
    return () => removeEventListener('hashchange', update);
  }, []);
  return route;
}

function SignIn({ onSession }: { onSession: (s: Session) => void }): JSX.Element {
  const [key, setKey] = useState('');
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);
  return (
    <main class="sign-in">
      <h1>pushhub</h1>
      <form
        onSubmit={async (e) => {
          e.preventDefault();
          setBusy(true);
          setError(undefined);
          try {
            onSession(await signIn(key.trim()));
          } catch (err) {
            setError((err as Error).message);
          } finally {
            setBusy(false);
          }
        }}
      >
        <label class="field">
          <span>API key</span>
          <input type="password" autoComplete="off" required value={key} onInput={(e) => setKey(e.currentTarget.value)} aria-describedby="sign-in-error" />
        </label>
        <button type="submit" disabled={busy}>Sign in</button>
        <p id="sign-in-error" class="error" role="alert">{error && `Sign-in failed: ${error}`}</p>
      </form>
      <p class="muted">The key stays in this tab (sessionStorage) and goes only into the Authorization header of API calls.</p>
    </main>
  );
}

function App(): JSX.Element {
  const [session, setSession] = useState<Session | null>(null);
  const [restoring, setRestoring] = useState(() => storedKey() !== null);
  const [notice, setNotice] = useState<Notice | null>(null);
  const route = useRoute();

  useEffect(() => {
    const key = storedKey();
    if (key === null) return;
    signIn(key)
      .then(setSession, () => signOut())
      .finally(() => setRestoring(false));
  }, []);
  useEffect(() => {
    if (!notice) return;
    const timer = setTimeout(() => setNotice(null), notice.kind === 'error' ? 15_000 : 6000);
    return () => clearTimeout(timer);
  }, [notice]);
  useEffect(() => {
    document.title = `${PAGES[route.page].title} · pushhub`;
  }, [route.page]);

  if (restoring) return <p class="muted">Loading…</p>;
  if (!session) return <SignIn onSession={setSession} />;
  const { page: Page } = PAGES[route.page];
  return (
    <SessionContext.Provider value={session}>
      <NoticeContext.Provider value={setNotice}>
        <header class="top">
          <strong class="brand">pushhub</strong>
          <nav aria-label="Pages">
            {Object.entries(PAGES).map(([name, { title }]) => (
              <a key={name} href={`#/${name}`} aria-current={route.page === name ? 'page' : undefined}>{title}</a>
            ))}
          </nav>
          <span class="who muted" title={session.scopes.join(', ')}>
            {session.canWrite ? session.scopes.join(', ') : `${session.scopes.join(', ')} (view only)`}
          </span>
          <button type="button" onClick={() => { signOut(); setSession(null); }}>Sign out</button>
        </header>
        <div class="notice" role={notice?.kind === 'error' ? 'alert' : 'status'} data-kind={notice?.kind}>{notice?.text}</div>
        <main>
          <h1>{PAGES[route.page].title}</h1>
          <Page key={route.page} route={route} />
        </main>
      </NoticeContext.Provider>
    </SessionContext.Provider>
  );
}

render(<App />, document.getElementById('app')!);
