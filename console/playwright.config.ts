import { defineConfig } from "@playwright/test";

// Run by the Rust tests in tests/tests/it/console.rs, which start a server with its own
// database and bus and pass its address and the apps' credentials in the environment. The
// browser is Debian's chromium: nothing is downloaded.
export default defineConfig({
  testDir: "e2e",
  timeout: 180_000,
  expect: { timeout: 30_000 },
  workers: 1,
  retries: 0,
  reporter: [["list"]],
  outputDir: process.env.BKDATA_E2E_OUT ?? "test-results",
  use: {
    baseURL: process.env.BKDATA_URL ?? "http://127.0.0.1:8084",
    headless: true,
    viewport: { width: 1440, height: 900 },
    launchOptions: {
      executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
      args: ["--no-sandbox", "--disable-dev-shm-usage"],
    },
    trace: "off",
  },
});
