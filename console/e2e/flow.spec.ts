// Seed 004's tutorial in the browser: its three nodes dragged onto the canvas, configured and
// linked, the flow saved and started, sample records ingested from the data access page, the
// counters moving on the canvas, and the stored windows read back on the query page. The Rust
// side (tests/tests/it/console.rs) then checks the rows in MariaDB against the SQL by hand.
import { expect, test, type Page } from "@playwright/test";
import { nav, shot, signIn } from "./helpers";

const PROJECT = process.env.PROJECT_ID!;
const RAW = process.env.RAW_DATA_ID!;
const SAMPLE = process.env.SAMPLE!;
const RECORDS = Number(process.env.RECORDS);

const SQL = `SELECT max(mem_res) as mem, max(cpu_usage_pct) as cpu_usage_pct, max(mem_usage_pct) as mem_usage_pct, ip, pid
FROM 591_system_proc
group by ip, pid`;

async function drop(page: Page, type: string, x: number, y: number) {
  const canvas = page.getByTestId("canvas");
  await page.getByTestId(`palette-${type}`).dragTo(canvas, { targetPosition: { x, y } });
}

/** Drag from one node's output handle to another's input handle. */
async function connect(page: Page, from: string, to: string) {
  const a = await page.getByTestId(`out-${from}`).boundingBox();
  const b = await page.getByTestId(`in-${to}`).boundingBox();
  await page.mouse.move(a!.x + a!.width / 2, a!.y + a!.height / 2);
  await page.mouse.down();
  await page.mouse.move(b!.x + b!.width / 2, b!.y + b!.height / 2, { steps: 12 });
  await page.mouse.up();
}

/** An antd InputNumber's input, wherever its test id landed. */
function numberInput(page: Page, id: string) {
  return page.locator(`input[data-testid="${id}"], [data-testid="${id}"] input`).first();
}

async function pick(page: Page, testId: string, option: string) {
  await page.getByTestId(testId).click();
  await page.locator(".ant-select-dropdown:visible").getByTitle(option, { exact: true }).click();
}

test("seed 004's flow built on the canvas runs and its windows are queried", async ({ page }) => {
  await signIn(page);
  await nav(page, "flows");
  await page.getByTestId("new-flow").click();
  await pick(page, "flow-project", `tutorial (${PROJECT})`);
  await page.getByTestId("flow-name").fill("data-test");
  await page.getByRole("button", { name: "Open" }).click();
  await expect(page.getByTestId("flow-title")).toHaveText("data-test");

  // The source.
  await drop(page, "stream_source", 80, 120);
  await page.getByTestId("node-name").fill("数据源");
  await pick(page, "node-rt", "591_system_proc");
  await page.getByTestId("node-save").click();
  // The realtime node: a 5-minute scroll window, waiting 60 s.
  await drop(page, "realtime", 380, 120);
  await page.getByTestId("node-name").fill("统计 5min 最大内存和 cpu");
  await page.getByTestId("node-table-name").fill("system_proc_ip_grp");
  await page.getByTestId("node-output-name").fill("统计 5min 最大内存和 cpu");
  await page.getByTestId("node-sql").fill(SQL);
  await pick(page, "node-window-type", "scroll");
  await numberInput(page, "node-count-freq").fill("300");
  await numberInput(page, "node-waiting-time").fill("60");
  await page.getByTestId("node-save").click();
  // The storage: MariaDB (tspider) cluster yyy-lasting.
  await drop(page, "tspider_storage", 680, 120);
  await page.getByTestId("node-name").fill("统计5min最大内存和cpu");
  await pick(page, "node-cluster", "yyy-lasting");
  await page.getByTestId("node-save").click();

  await connect(page, "数据源", "统计 5min 最大内存和 cpu");
  await connect(page, "统计 5min 最大内存和 cpu", "统计5min最大内存和cpu");
  await expect(page.locator(".react-flow__edge")).toHaveCount(2);
  await page.getByTestId("save-flow").click();
  await expect(page).toHaveURL(/#\/flows\/\d+$/);
  await expect(page.locator(".react-flow__node")).toHaveCount(3);
  await shot(page, "flow-canvas");

  // A wrong SQL is shown on its node, and nothing is saved.
  await page.getByTestId("node-统计 5min 最大内存和 cpu").click();
  await page.getByTestId("node-sql").fill("SELECT nope FROM 591_system_proc");
  await page.getByTestId("node-save").click();
  await page.getByTestId("save-flow").click();
  await expect(page.getByTestId("node-error-统计 5min 最大内存和 cpu")).toContainText("sql");
  await shot(page, "flow-node-error");
  await page.getByTestId("node-统计 5min 最大内存和 cpu").click();
  await page.getByTestId("node-sql").fill(SQL);
  await page.getByTestId("node-save").click();
  await page.getByTestId("save-flow").click();
  await expect(page.getByTestId("node-error-统计 5min 最大内存和 cpu")).toHaveCount(0);
  await expect(page.getByText("*", { exact: true })).toHaveCount(0);

  // Start it from the head and follow the deploy log.
  await pick(page, "consuming-mode", "from the head (all data kept)");
  await page.getByTestId("start-flow").click();
  await expect(page.getByTestId("deploy-log")).toContainText("ready", { timeout: 90_000 });
  await page.keyboard.press("Escape");
  await expect(page.locator(".ant-tag").filter({ hasText: /^running$/ }).first()).toBeVisible({ timeout: 90_000 });
  const flowUrl = page.url();

  // Sample records through the ingest box.
  await nav(page, "rawdata");
  await page.getByRole("cell", { name: RAW, exact: true }).click();
  await page.getByTestId("ingest-text").fill(SAMPLE);
  await page.getByTestId("ingest").click();
  await expect(page.getByTestId("ingest-result")).toHaveText(`Accepted: ${RECORDS}`);
  await shot(page, "data-access");

  // The counters move on the canvas.
  await page.goto(flowUrl);
  await expect(page.getByTestId("rows-in-统计 5min 最大内存和 cpu")).toHaveText(RECORDS.toLocaleString("en-US"), { timeout: 90_000 });
  await expect(page.getByTestId("rows-out-统计 5min 最大内存和 cpu")).toHaveText("12", { timeout: 90_000 });
  await expect(page.getByTestId("stop-flow")).toBeEnabled();
  await expect(page.getByTestId("start-flow")).toBeDisabled();
  await shot(page, "flow-running");

  // The storage node's shipper on the storages page: the 12 rows written.
  await nav(page, "storages");
  await page.getByRole("link", { name: "591_system_proc_ip_grp" }).click();
  await expect(page.getByTestId("rows-written-tspider")).toHaveText("12", { timeout: 60_000 });
  await shot(page, "storages");
  await page.keyboard.press("Escape");

  // The stored windows on the query page: 2 windows × 6 (ip, pid).
  await nav(page, "query");
  await page.getByTestId("query-sql").fill("SELECT ip, pid, mem, cpu_usage_pct, dtEventTimeStamp FROM 591_system_proc_ip_grp ORDER BY dtEventTimeStamp, ip, pid");
  await page.getByTestId("query-run").click();
  await expect(page.getByTestId("query-count")).toContainText("12 Rows", { timeout: 60_000 });
  await shot(page, "query-table");
  await page.getByRole("tab", { name: "Chart" }).click();
  await expect(page.getByTestId("line-chart")).toBeVisible();
  await shot(page, "query-chart");
});
