import { useState } from 'preact/hooks';
import { errorText, login } from './api';

/** Shown while auth is on and the console has no valid token. */
export function LoginForm(props: { onLoggedIn: () => void }) {
  const [user, setUser] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event): Promise<void> => {
    e.preventDefault();
    setBusy(true);
    setError('');
    try {
      await login(user, password);
      props.onLoggedIn();
    } catch (err) {
      setError(errorText(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <section class="login" aria-label="Log in">
      <form class="card stack" onSubmit={(e) => void submit(e)}>
        <h2>Log in</h2>
        <p class="tree-note">Authentication is enabled on this cluster.</p>
        <label>
          User
          <input autocomplete="username" value={user} onInput={(e) => setUser(e.currentTarget.value)} data-testid="login-user" required />
        </label>
        <label>
          Password
          <input type="password" autocomplete="current-password" value={password} onInput={(e) => setPassword(e.currentTarget.value)} data-testid="login-password" />
        </label>
        {error !== '' && (
          <p class="error" role="alert" data-testid="login-error">
            {error}
          </p>
        )}
        <button class="primary" type="submit" disabled={busy} data-testid="login-submit">
          Log in
        </button>
      </form>
    </section>
  );
}
