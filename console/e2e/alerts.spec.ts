import { expect, test } from "@playwright/test";
import { nav, shot, signIn } from "./helpers";

const ALERT = process.env.ALERT_ID!;

test("an alert is found, opened and acknowledged", async ({ page }) => {
  await signIn(page);
  await nav(page, "alerts");
  await page.getByPlaceholder("Search").fill("cpu_high_console");
  await page.getByPlaceholder("Search").press("Enter");
  await expect(page.getByRole("link", { name: ALERT })).toBeVisible();
  await shot(page, "alerts");
  await page.getByRole("link", { name: ALERT }).click();
  await expect(page.getByText("cpu_high_console")).toBeVisible();
  await page.getByTestId("alert-ack").click();
  await page.getByTestId("alert-note").fill("looking at it");
  await page.getByRole("button", { name: "OK" }).click();
  await expect(page.getByTestId("alert-acked")).toContainText("admin");
  await page.getByRole("tab", { name: "Logs" }).click();
  await expect(page.getByTestId("alert-logs")).toContainText("looking at it");
  await shot(page, "alert-detail");
});
