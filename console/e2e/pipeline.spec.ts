// Seed 002's pipeline task in the browser: create, execute completely, follow the steps and
// logs, download a file of the task folder and archive it; the monitor and stats pages.
import { expect, test } from "@playwright/test";
import * as fs from "node:fs";
import { nav, shot, signIn } from "./helpers";

test("a pipeline task is created, executed and its file downloaded", async ({ page }) => {
  await signIn(page);
  await nav(page, "pipeline");
  await page.getByTestId("new-task").click();
  await page.getByTestId("task-context").fill("高速公路服务区管理系统");
  await page.getByRole("button", { name: "Create" }).click();
  await expect(page).toHaveURL(/#\/pipeline\/.+/);

  await page.getByTestId("execute-complete").click();
  for (const step of ["ddl_generation", "qa_generation", "sql_validation", "training_load"]) {
    await expect(page.getByTestId(`step-${step}`)).toHaveText("completed", { timeout: 120_000 });
  }
  await expect(page.getByTestId("task-logs")).toContainText("ddl_generation");
  await shot(page, "pipeline-task");

  // bss_company.ddl, downloaded with the session's credentials.
  const file = page.getByTestId("file-bss_company.ddl");
  await expect(file).toBeVisible({ timeout: 30_000 });
  const [download] = await Promise.all([page.waitForEvent("download"), file.click()]);
  expect(download.suggestedFilename()).toBe("bss_company.ddl");
  const body = fs.readFileSync((await download.path())!, "utf8");
  expect(body).toContain("create table public.bss_company");

  await page.getByRole("button", { name: "Archive" }).click();
  await expect(page.locator(".ant-message")).toContainText(".zip", { timeout: 30_000 });

  await nav(page, "pipeline");
  await page.getByRole("tab", { name: "Monitor" }).click();
  await expect(page.getByText("/monitor/status")).toBeVisible();
  await shot(page, "pipeline-monitor");
  await page.getByRole("tab", { name: "Stats" }).click();
  await expect(page.getByText("/stats")).toBeVisible();
});
