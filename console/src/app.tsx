import { useEffect, useState } from 'preact/hooks';
import { asApiError } from './components/async';
import { Loading, Notice } from './components/ui';
import { whoIs } from './identity';
import { href, listen, location, navigate } from './router';
import { AdminScreen } from './screens/admin/AdminScreen';
import { FeedScreen } from './screens/feed/FeedScreen';
import { FeedsScreen } from './screens/Feeds';
import { GateScreen } from './screens/Gate';
import { SignIn } from './screens/SignIn';
import { VulnerabilityScreen } from './screens/Vulnerability';
import { identity, returnTo, session } from './session';

export function App() {
  const [restoring, setRestoring] = useState(() => Boolean(session.key()) && !identity.value);

  useEffect(() => listen(), []);

  // A reload keeps the key of this tab: ask who it is once more.
  useEffect(() => {
    const key = session.key();
    if (!restoring || !key) return;
    whoIs(key)
      .then((who) => session.start(key, who))
      .catch((error) => {
        const failure = asApiError(error);
        session.end(failure.status === 401 ? 'Your key was not accepted. Sign in again.' : failure.message);
      })
      .finally(() => setRestoring(false));
  }, [restoring]);

  const who = identity.value;
  const { route, query } = location.value;

  useEffect(() => {
    if (!restoring && !who && route.name !== 'signin') {
      // A shared link or a page whose key stopped working: come back to it after signing in.
      returnTo.value = window.location.hash || null;
      navigate(href({ name: 'signin' }), { replace: true });
    }
    if (who && route.name === 'signin') {
      const back = returnTo.value;
      returnTo.value = null;
      navigate(back && back !== href({ name: 'signin' }) ? back : href({ name: 'feeds' }), { replace: true });
    }
  }, [restoring, who, route.name]);

  if (restoring) return <Loading label="Signing in…" />;
  if (!who || route.name === 'signin') return <SignIn />;

  let screen;
  switch (route.name) {
    case 'feeds':
      screen = <FeedsScreen />;
      break;
    case 'feed':
      screen = <FeedScreen feed={route.feed} tab={route.tab} query={query} />;
      break;
    case 'vulnerability':
      screen = <VulnerabilityScreen feed={route.feed} id={route.id} />;
      break;
    case 'gate':
      screen = <GateScreen query={query} />;
      break;
    case 'admin':
      screen = who.admin ? (
        <AdminScreen section={route.section} />
      ) : (
        <Notice kind="warning">Administration is for the admin key only.</Notice>
      );
      break;
    default:
      screen = (
        <Notice kind="warning">
          There is no page here. <a href={href({ name: 'feeds' })}>Go to the feeds.</a>
        </Notice>
      );
  }

  const section = route.name === 'admin' ? 'admin' : route.name === 'gate' ? 'gate' : 'feeds';
  return (
    <>
      <a class="skip-link" href="#main" onClick={skipToMain}>
        Skip to content
      </a>
      <header class="topbar">
        <a class="brand" href={href({ name: 'feeds' })}>
          <span class="brand-mark" aria-hidden="true">
            ◆
          </span>{' '}
          feedguard
        </a>
        <nav class="mainnav" aria-label="Main">
          <a href={href({ name: 'feeds' })} aria-current={section === 'feeds' ? 'page' : undefined}>
            Feeds
          </a>
          <a href={href({ name: 'gate' })} aria-current={section === 'gate' ? 'page' : undefined}>
            Gate
          </a>
          {who.admin && (
            <a href={href({ name: 'admin', section: 'sources' })} aria-current={section === 'admin' ? 'page' : undefined}>
              Administration
            </a>
          )}
        </nav>
        <div class="whoami">
          <span class="whoami-name" title={`Key ${who.id}`}>
            {who.admin ? 'Admin' : who.name}
          </span>
          <button type="button" class="secondary" onClick={() => session.end('You signed out.')}>
            Sign out
          </button>
        </div>
      </header>
      <main id="main" tabIndex={-1}>
        {screen}
      </main>
    </>
  );
}

// The skip link's target is inside a hash-routed page: focus it without
// letting `#main` replace the route.
function skipToMain(event: MouseEvent) {
  event.preventDefault();
  document.getElementById('main')?.focus();
}
