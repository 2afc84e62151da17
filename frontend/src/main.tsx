// Entry: session handling (login, expiry, 401), the signed-in shell and hash routing.
import { render } from "preact";
import { useEffect, useState } from "preact/hooks";
import { api, loadSession, saveSession, setUnauthorizedHandler } from "./api";
import { ErrorBox, Loading } from "./components";
import { AppContext } from "./context";
import { usePoll } from "./hooks";
import { Login, sessionFromHostedRedirect } from "./pages/login";
import { Shell } from "./shell";
import type { Health, Me, Session } from "./types";
import "./style.css";

function SignedIn({ session, signOut }: { session: Session; signOut: (message?: string) => void }) {
  const me = usePoll<Me>(() => api("GET", "/api/me"), 0, [session.token]);
  const health = usePoll<Health>(() => api("GET", "/api/health"), 1000, [session.token]);
  if (!me.data) {
    return (
      <main class="centered">
        {me.error ? <ErrorBox error={me.error} context="Could not load your profile" /> : <Loading what="your profile" />}
        {me.error && (
          <p>
            <button type="button" onClick={me.refresh}>
              Retry
            </button>{" "}
            <button type="button" onClick={() => signOut()}>
              Sign out
            </button>
          </p>
        )}
      </main>
    );
  }
  return (
    <AppContext.Provider value={{ me: me.data, health }}>
      <Shell signOut={() => signOut()} />
    </AppContext.Provider>
  );
}

function App() {
  const [session, setSession] = useState<Session | null>(() => sessionFromHostedRedirect() ?? loadSession());
  const [message, setMessage] = useState<string | null>(null);

  const signOut = (why?: string) => {
    saveSession(null);
    setSession(null);
    setMessage(why ?? null);
  };

  useEffect(() => setUnauthorizedHandler((why) => signOut(why)), []);
  useEffect(() => {
    if (!session) return undefined;
    const timer = window.setTimeout(
      () => signOut("Your session expired: sign in again."),
      Math.max(0, session.expires_at - Date.now()),
    );
    return () => window.clearTimeout(timer);
  }, [session]);

  if (!session) {
    return (
      <Login
        message={message}
        onSignedIn={(next) => {
          saveSession(next);
          setMessage(null);
          setSession(next);
        }}
      />
    );
  }
  return <SignedIn key={session.token} session={session} signOut={signOut} />;
}

render(<App />, document.getElementById("app")!);
