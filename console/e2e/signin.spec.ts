import { expect, test } from "@playwright/test";
import { APP_CODE, APP_SECRET, shot, signIn } from "./helpers";

test("a wrong secret is refused; the right one signs in; the language is remembered", async ({ page }) => {
  await page.goto("/");
  await page.locator("#app-code").fill(APP_CODE);
  await page.locator("#app-secret").fill("not-the-secret");
  await page.locator("#username").fill("admin");
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page.getByTestId("signin-error")).toBeVisible();
  await expect(page.getByTestId("whoami")).toHaveCount(0);
  await shot(page, "signin-refused");

  await signIn(page);
  // The overview lists the live worker.
  await expect(page.getByText("console-worker-1")).toBeVisible();
  await shot(page, "overview");

  // 中文, and still 中文 after a reload (the session is kept for the tab).
  await page.getByText("中文").first().click();
  await expect(page.locator('[data-nav="overview"]')).toHaveText("总览");
  await page.reload();
  await expect(page.locator('[data-nav="overview"]')).toHaveText("总览");
  await page.getByText("EN").first().click();
  await expect(page.locator('[data-nav="overview"]')).toHaveText("Overview");

  // Nothing of the session outlives the tab: a new context starts signed out.
  const other = await page.context().browser()!.newContext({ baseURL: process.env.BKDATA_URL });
  const p2 = await other.newPage();
  await p2.goto("/");
  await expect(p2.locator("#app-code")).toBeVisible();
  await other.close();
  expect(APP_SECRET).not.toBe("");
});
