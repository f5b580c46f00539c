import { expect, type Page } from "@playwright/test";
import * as path from "node:path";

export const APP_CODE = process.env.APP_CODE ?? "";
export const APP_SECRET = process.env.APP_SECRET ?? "";

/** Sign in through the form; answers once the menu is shown. */
export async function signIn(page: Page, code = APP_CODE, secret = APP_SECRET, user = "admin") {
  await page.goto("/");
  await page.locator("#app-code").fill(code);
  await page.locator("#app-secret").fill(secret);
  await page.locator("#username").fill(user);
  await page.getByRole("button", { name: /Sign in|登录/ }).click();
  await expect(page.getByTestId("whoami")).toHaveText(`${user}@${code}`);
}

/** A full-page screenshot for docs/console (the test run's copy). */
export async function shot(page: Page, name: string) {
  const dir = process.env.BKDATA_SCREENSHOTS_DIR;
  if (!dir) return;
  // Let drawers and modals finish sliding in (poll for no running animation).
  await page
    .waitForFunction(() => document.getAnimations().every((a) => a.playState !== "running"), null, { timeout: 5_000 })
    .catch(() => {});
  await page.screenshot({ path: path.join(dir, `${name}.png`), fullPage: false });
}

/** Open a page of the menu. */
export async function nav(page: Page, key: string) {
  await page.locator(`[data-nav="${key}"]`).click();
}
