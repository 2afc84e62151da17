import { defineConfig } from "vite";

// The UI is served by `tradeops up` on the API's origin; `npm run dev` proxies /api to TRADEOPS_API.
export default defineConfig({
  base: "/",
  build: { outDir: "dist", sourcemap: false, chunkSizeWarningLimit: 400 },
  server: { proxy: { "/api": process.env.TRADEOPS_API ?? "http://127.0.0.1:4710" } },
});
