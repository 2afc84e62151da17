// What every page knows: the signed-in user, their permissions and the latest health.
import { createContext } from "preact";
import { useContext } from "preact/hooks";
import type { Health, Me } from "./types";
import type { Loaded } from "./hooks";

export interface AppState {
  me: Me;
  health: Loaded<Health>;
}

export const AppContext = createContext<AppState | null>(null);

export function useApp(): AppState {
  const state = useContext(AppContext);
  if (!state) throw new Error("useApp outside the signed-in app");
  return state;
}

/** "POST /api/limits/proposals/{id}/approve" and "…/{proposal_id}/approve" name the same route. */
function routeKey(permission: string): string {
  return permission.trim().replace(/\{[^}]*\}/g, "{}").replace(/\/+$/, "");
}

/** True if `me` may call the route "METHOD /path-template". */
export function allowed(me: Me, route: string): boolean {
  const key = routeKey(route);
  return me.permissions.some((p) => routeKey(p) === key);
}

export function useCan(): (route: string) => boolean {
  const { me } = useApp();
  return (route) => allowed(me, route);
}
