// The clean editor: the tutorial's clean (from_json "j" → assign_obj "a") debugged on a good
// record (each node's value beside it), then on a broken one (the error at the node that
// failed), a node added and configured, and bklog's json ETL type built from its form.
import { expect, test } from "@playwright/test";
import { nav, shot, signIn } from "./helpers";

test("a clean config is debugged node by node", async ({ page }) => {
  await signIn(page);
  await nav(page, "cleans");
  await page.getByRole("link", { name: "591_system_proc" }).click();
  await expect(page.locator('[data-label="j"]')).toBeVisible();

  // A good record: every node has a value, the rows come out typed.
  await page.getByTestId("clean-sample").fill('{"time": 1795305600000, "ip": "10.0.0.1", "pid": 100, "cpu_usage_pct": 12.5, "mem_usage_pct": 40.25, "mem_res": 2048}');
  await page.getByTestId("clean-debug").click();
  await expect(page.getByTestId("node-value-j")).toContainText("10.0.0.1");
  await expect(page.getByRole("columnheader", { name: "cpu_usage_pct(double)" })).toBeVisible();
  await shot(page, "clean-debug");

  // A record that is not JSON: the error is at the from_json node, none at the assign.
  await page.getByTestId("clean-sample").fill("ip=10.0.0.1 cpu=12");
  await page.getByTestId("clean-debug").click();
  await expect(page.getByTestId("node-error-j")).toBeVisible();
  await expect(page.getByTestId("node-value-a")).toHaveCount(0);
  await shot(page, "clean-error");

  // A field that does not convert is null, as BKData's ETL answers.
  await page.getByTestId("clean-sample").fill('{"time": 1795305600000, "ip": "10.0.0.1", "pid": "not a number", "cpu_usage_pct": 1, "mem_usage_pct": 1, "mem_res": 1}');
  await page.getByTestId("clean-debug").click();
  await expect(page.getByTestId("node-value-a")).toContainText('"pid":null');

  // Add a node after the parser and configure it: it shows in the tree at its depth.
  await page.getByTestId("add-after-j").click();
  await page.locator(".ant-select-dropdown:visible").getByTitle("access_obj", { exact: true }).click();
  await expect(page.locator('[data-label="access1"]')).toBeVisible();
  await page.getByTestId("edit-access1").click();
  await page.getByTestId("node-key").fill("payload");
  await page.locator(".ant-modal").getByRole("button", { name: "Save" }).click();
  await expect(page.locator('[data-label="access1"]')).toContainText(".payload");
  // A record without that key: parsed at j, refused at the new node.
  await page.getByTestId("clean-debug").click();
  await expect(page.getByTestId("node-error-access1")).toContainText("AccessByKeyFailedError");
  await expect(page.getByTestId("node-value-j")).toBeVisible();

  // Saved (PUT cleans/{id}/), and there when the clean is opened again.
  await page.getByTestId("clean-save").click();
  await expect(page.locator(".ant-message")).toContainText("Changes saved");
  await page.getByRole("link", { name: "591_system_proc" }).click();
  await expect(page.locator('[data-label="access1"]')).toContainText(".payload");

  // bklog's json type from its form: the server builds the tree bklog would send.
  await page.getByRole("tab", { name: "bklog" }).click();
  await page.getByRole("button", { name: "Create" }).click();
  await page.getByRole("tab", { name: "Clean editor" }).click();
  await expect(page.locator('[data-label="bk_envelope"]')).toBeVisible();
  await expect(page.locator('[data-label="bk_iterate"]')).toBeVisible();
});
