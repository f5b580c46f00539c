import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";

// `npm run dev` proxies the API to a local bkdata-server; the build goes to dist/, which
// bkdata-server serves at / (BKDATA_CONSOLE_DIR).
const api = process.env.BKDATA_URL ?? "http://127.0.0.1:8084";
export default defineConfig({
  plugins: [react()],
  build: { outDir: "dist", chunkSizeWarningLimit: 2000 },
  server: {
    proxy: Object.fromEntries(["/v3", "/v4", "/api", "/openapi.json", "/healthz"].map((p) => [p, api])),
  },
});
