import { useState } from 'react';
import * as API from '../api';

export function Login({ onSignedIn }: { onSignedIn: (m: API.Me) => void }) {
  const [user, setUser] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  return (
    <div className="login-page">
      <form className="login-card" onSubmit={(e) => {
        e.preventDefault();
        setBusy(true); setError('');
        API.login(user, password).then(onSignedIn, (err) => setError(err.status === 401 ? 'Wrong user name or password.' : String(err.message))).finally(() => setBusy(false));
      }}>
        <div className="login-brand">
          <svg width="34" height="34" viewBox="0 0 32 32" aria-hidden="true"><rect width="32" height="32" rx="7" fill="var(--accent)" /><path d="M6 20 L13 12 L18 17 L26 9" stroke="#fff" strokeWidth="3" fill="none" strokeLinecap="round" strokeLinejoin="round" /></svg>
          <div><h1>Osprey</h1><p className="muted">Applications, servers, databases, Kubernetes, logs and URLs — in one place.</p></div>
        </div>
        <label>User<input name="user" autoComplete="username" autoFocus value={user} onChange={(e) => setUser(e.target.value)} required /></label>
        <label>Password<input name="password" type="password" autoComplete="current-password" value={password} onChange={(e) => setPassword(e.target.value)} required /></label>
        {error && <div className="form-error" role="alert">{error}</div>}
        <button className="btn primary wide" type="submit" disabled={busy}>{busy ? 'Signing in…' : 'Sign in'}</button>
        <p className="hint">First start? The user is <code>admin</code>; its password was printed by the server when it created the data directory (or set with <code>OSPREY_ADMIN_PASSWORD</code>). Change it with <code>osprey user passwd admin</code>.</p>
      </form>
    </div>
  );
}
