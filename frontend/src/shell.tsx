// The signed-in layout: navigation (only pages this user may read), the gateway banner, the page.
import type { ComponentType } from "preact";
import { useEffect, useState } from "preact/hooks";
import { ago } from "./format";
import { allowed, useApp } from "./context";
import { Alerts } from "./pages/alerts";
import { Audit } from "./pages/audit";
import { Ledger, OrderPage } from "./pages/ledger";
import { Overview } from "./pages/overview";
import { Positions } from "./pages/positions";
import { Reconciliation } from "./pages/reconciliation";
import { Risk } from "./pages/risk";
import { Strategies } from "./pages/strategies";

interface PageSpec {
  path: string;
  title: string;
  reads: string[];
  page: ComponentType;
}

const PAGES: PageSpec[] = [
  { path: "overview", title: "Overview", reads: ["GET /api/portfolio"], page: Overview },
  { path: "positions", title: "Positions", reads: ["GET /api/positions"], page: Positions },
  { path: "ledger", title: "Orders & trades", reads: ["GET /api/orders", "GET /api/trades"], page: Ledger },
  { path: "risk", title: "Risk", reads: ["GET /api/limits"], page: Risk },
  { path: "strategies", title: "Strategies", reads: ["GET /api/strategies"], page: Strategies },
  { path: "alerts", title: "Alerts", reads: ["GET /api/alerts"], page: Alerts },
  { path: "reconciliation", title: "Reconciliation", reads: ["GET /api/reconciliation"], page: Reconciliation },
  { path: "audit", title: "Audit", reads: ["GET /api/journal", "GET /api/audit/verify"], page: Audit },
];

function currentRoute(): string[] {
  return window.location.hash.replace(/^#\/?/, "").split("/").map(decodeURIComponent);
}

function useRoute(): string[] {
  const [route, setRoute] = useState(currentRoute);
  useEffect(() => {
    const onChange = () => setRoute(currentRoute());
    window.addEventListener("hashchange", onChange);
    return () => window.removeEventListener("hashchange", onChange);
  }, []);
  return route;
}

function GatewayBanner() {
  const { health } = useApp();
  if (health.error && health.error.status === 0) {
    return (
      <div class="banner down" role="alert">
        API unreachable: {health.error.message} Data on this page may be out of date.
      </div>
    );
  }
  const gateway = health.data?.gateway;
  if (!gateway) return null;
  if (gateway.stale || !gateway.ready) {
    const what = gateway.stale ? "Gateway down" : "Gateway not ready";
    const failing = gateway.failing.length ? ` (failing: ${gateway.failing.join(", ")})` : "";
    return (
      <div class="banner down" role="alert" data-testid="gateway-down">
        {what}: last heartbeat {ago(gateway.updated_at)}{failing}. Orders and live data are not flowing.
      </div>
    );
  }
  return null;
}

export function Shell({ signOut }: { signOut: () => void }) {
  const { me } = useApp();
  const route = useRoute();
  const visible = PAGES.filter((p) => p.reads.some((r) => allowed(me, r)));
  const [first, ...rest] = route;
  const spec = visible.find((p) => p.path === first);
  useEffect(() => {
    document.title = `${spec?.title ?? (first === "orders" ? "Order" : "tradeops")} · tradeops`;
  }, [first]);
  let content;
  if (first === "orders" && rest[0] && allowed(me, "GET /api/orders/{client_order_id}")) {
    content = <OrderPage clientOrderId={rest[0]} />;
  } else if (spec) {
    content = <spec.page />;
  } else if (visible.length && (first === "" || first === undefined)) {
    const Page = visible[0].page;
    content = <Page />;
  } else {
    content = <p class="state empty">{visible.length ? "No such page." : "Your account has no pages to show."}</p>;
  }
  const active = spec?.path ?? (first === "orders" ? "ledger" : visible[0]?.path);
  return (
    <div class="shell">
      <button type="button" class="skip" onClick={() => document.getElementById("main")?.focus()}>
        Skip to content
      </button>
      <header class="top">
        <span class="brand">tradeops</span>
        <nav aria-label="Pages">
          {visible.map((p) => (
            <a key={p.path} href={`#/${p.path}`} aria-current={p.path === active ? "page" : undefined}>
              {p.title}
            </a>
          ))}
        </nav>
        <span class="user">
          <span data-testid="username">{me.username}</span> <span class="muted">({me.roles.join(", ") || "no role"})</span>{" "}
          <button type="button" onClick={signOut}>
            Sign out
          </button>
        </span>
      </header>
      <GatewayBanner />
      <main id="main" tabIndex={-1}>
        {content}
      </main>
    </div>
  );
}
