// The Lattice web console: a client of /api served at /ui (src/adapters/console/).
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import './console.css';
import { errorText, getJson, loggedInUser, logout, onAuthRequired } from './api';
import { ClusterView } from './cluster-view';
import { KeyEditor, NewKey } from './key-editor';
import { KeyTree } from './key-tree';
import { LeasesView } from './leases-view';
import { LoginForm } from './login';
import { dismiss, subscribeNotices, type Notice } from './notices';
import { TenantsView } from './tenants-view';
import { TransferView } from './transfer-view';
import { UsersView } from './users-view';
import { bytesId } from './bytes';
import { watchFeed } from './watch-feed';
import { WatchView } from './watch-view';

const tabs = ['keys', 'watch', 'leases', 'cluster', 'users', 'tenants', 'transfer'] as const;
type Tab = (typeof tabs)[number];
const tabTitles: Record<Tab, string> = { keys: 'Keys', watch: 'Watch', leases: 'Leases', cluster: 'Cluster', users: 'Users & roles', tenants: 'Tenants', transfer: 'Import / export' };

const tabOfHash = (): Tab => {
  const h = location.hash.replace(/^#\/?/, '');
  return (tabs as readonly string[]).includes(h) ? (h as Tab) : 'keys';
};

function KeysPage() {
  const [selected, setSelected] = useState<Uint8Array | undefined>(undefined);
  const [creating, setCreating] = useState(false);
  return (
    <div class={`keys-page${selected !== undefined || creating ? ' has-detail' : ''}`}>
      <KeyTree
        selected={selected}
        onSelect={(k) => {
          setCreating(false);
          setSelected(k);
        }}
        onCreate={() => setCreating(true)}
      />
      {creating ? (
        <NewKey
          onCreated={(k) => {
            setCreating(false);
            setSelected(k);
          }}
          onCancel={() => setCreating(false)}
        />
      ) : selected !== undefined ? (
        <div class="detail">
          <button class="back" onClick={() => setSelected(undefined)}>
            ← Keys
          </button>
          <KeyEditor key={bytesId(selected)} keyBytes={selected} onDeleted={() => setSelected(undefined)} />
        </div>
      ) : (
        <section class="editor-pane empty">Choose a key, or create one.</section>
      )}
    </div>
  );
}

function Notices() {
  const [notices, setNotices] = useState<readonly Notice[]>([]);
  useEffect(() => subscribeNotices(setNotices), []);
  return (
    <div class="notices" aria-live="polite">
      {notices.map((n) => (
        <div key={n.id} class={`notice ${n.kind}`} data-testid="notice" onClick={() => dismiss(n.id)}>
          {n.text}
        </div>
      ))}
    </div>
  );
}

type AuthState = 'checking' | 'open' | 'login' | 'in';

function App() {
  const [tab, setTab] = useState<Tab>(tabOfHash());
  const [auth, setAuth] = useState<AuthState>('checking');
  const [problem, setProblem] = useState('');

  const check = async (): Promise<void> => {
    try {
      await getJson('/api/status');
      setAuth(loggedInUser() === undefined ? 'open' : 'in');
      setProblem('');
      watchFeed.start();
    } catch (err) {
      if (loggedInUser() === undefined && /401|unauthenticated|token/i.test(errorText(err))) return;
      setProblem(errorText(err));
    }
  };

  useEffect(() => {
    const onHash = (): void => setTab(tabOfHash());
    addEventListener('hashchange', onHash);
    const off = onAuthRequired(() => {
      watchFeed.halt();
      setAuth('login');
    });
    void check();
    return () => {
      removeEventListener('hashchange', onHash);
      off();
    };
  }, []);

  const visible = tabs.filter((t) => t !== 'users' || auth === 'in');
  return (
    <>
      <header>
        <h1>Lattice</h1>
        {(auth === 'open' || auth === 'in') && (
          <nav>
            {visible.map((t) => (
              <a key={t} href={`#${t}`} class={t === tab ? 'active' : ''} aria-current={t === tab ? 'page' : undefined} data-testid={`tab-${t}`}>
                {tabTitles[t]}
              </a>
            ))}
          </nav>
        )}
        {auth === 'in' && (
          <span class="who">
            {loggedInUser()}{' '}
            <button onClick={logout} data-testid="logout">
              Log out
            </button>
          </span>
        )}
      </header>
      <Notices />
      {problem !== '' && <p class="error">The server did not answer: {problem}</p>}
      <main>
        {auth === 'checking' && <p>Connecting…</p>}
        {auth === 'login' && <LoginForm onLoggedIn={() => void check()} />}
        {(auth === 'open' || auth === 'in') && (
          <>
            {tab === 'keys' && <KeysPage />}
            {tab === 'watch' && <WatchView />}
            {tab === 'leases' && <LeasesView />}
            {tab === 'cluster' && <ClusterView />}
            {tab === 'users' && auth === 'in' && <UsersView />}
            {tab === 'tenants' && <TenantsView />}
            {tab === 'transfer' && <TransferView />}
          </>
        )}
      </main>
    </>
  );
}

const root = document.getElementById('app');
if (root !== null) {
  root.textContent = '';
  render(<App />, root);
}
