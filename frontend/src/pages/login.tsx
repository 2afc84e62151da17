// Login: username/password against the API (embedded Cognito) or a redirect to the Cognito hosted UI.
import type { JSX } from "preact";
import { useState } from "preact/hooks";
import { api, ApiError } from "../api";
import { ErrorBox, Loading } from "../components";
import { usePoll } from "../hooks";
import type { AuthConfig, Session } from "../types";

interface LoginResult {
  token: string;
  expires_at: number;
  username: string;
  roles: string[];
}

/** After the hosted UI redirects back with `#id_token=...`: the session it carries (roles come from /api/me). */
export function sessionFromHostedRedirect(): Session | null {
  const params = new URLSearchParams(window.location.hash.replace(/^#\/?/, ""));
  const token = params.get("id_token");
  if (!token) return null;
  try {
    const claims = JSON.parse(atob(token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/"))) as {
      exp: number;
      email?: string;
      "cognito:username"?: string;
      "cognito:groups"?: string[];
    };
    history.replaceState(null, "", `${window.location.pathname}#/overview`);
    return {
      token,
      expires_at: claims.exp * 1000,
      username: claims.email ?? claims["cognito:username"] ?? "",
      roles: claims["cognito:groups"] ?? [],
    };
  } catch {
    return null;
  }
}

function hostedLoginUrl(config: AuthConfig): string {
  const url = new URL(config.hosted_ui_url ?? "");
  url.searchParams.set("client_id", config.client_id);
  url.searchParams.set("response_type", "token");
  url.searchParams.set("scope", "openid email");
  url.searchParams.set("redirect_uri", `${window.location.origin}/`);
  return url.toString();
}

export function Login({ message, onSignedIn }: { message: string | null; onSignedIn: (session: Session) => void }) {
  const config = usePoll<AuthConfig>(() => api("GET", "/api/auth/config"), 0);
  const [username, setUsername] = useState("");
  const [password, setPassword] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);

  const submit = async (event: JSX.TargetedEvent<HTMLFormElement>) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const result = await api<LoginResult>("POST", "/api/auth/login", { username, password });
      onSignedIn({ token: result.token, expires_at: result.expires_at, username: result.username, roles: result.roles });
    } catch (exc) {
      setError(exc instanceof ApiError ? exc : new ApiError(0, "client", String(exc)));
    } finally {
      setBusy(false);
    }
  };

  return (
    <main class="login">
      <h1>tradeops</h1>
      <p class="muted">Operator console</p>
      {message && (
        <p class="state notice" role="status">
          {message}
        </p>
      )}
      <ErrorBox error={config.error} context="Sign-in is unavailable" />
      {config.loading && <Loading what="sign-in options" />}
      {config.data?.mode === "hosted" && (
        <a class="button primary" href={hostedLoginUrl(config.data)}>
          Sign in with your organisation
        </a>
      )}
      {config.data?.mode === "password" && (
        <form onSubmit={submit} aria-label="Sign in">
          <label>
            Username
            <input name="username" autoComplete="username" required value={username} onInput={(e) => setUsername(e.currentTarget.value)} />
          </label>
          <label>
            Password
            <input
              name="password"
              type="password"
              autoComplete="current-password"
              required
              value={password}
              onInput={(e) => setPassword(e.currentTarget.value)}
            />
          </label>
          <ErrorBox error={error} context="Sign-in failed" />
          <button type="submit" class="primary" disabled={busy}>
            {busy ? "Signing in…" : "Sign in"}
          </button>
        </form>
      )}
    </main>
  );
}
