import { existsSync, mkdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { chromium, type Browser, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { silentLogger, startNatsServer, waitFor, type NatsServer } from "@cozebus/testing";
import { NonRetryableError, openBus, type Bus } from "@cozebus/nats";
import { workflow } from "@cozebus/workflow";
import { startConsoleProcess, type ConsoleProcess } from "./console-process.js";

/**
 * The console in a real browser (Debian's Chromium, headless) against a
 * real nats-server with real dead letters from a failing handler. With
 * COZEBUS_SCREENSHOTS=1 each page is saved to docs/img/console-*.png (the
 * committed ones come from such a run; a CI run never writes them).
 */
const CHROMIUM = "/usr/bin/chromium";
const IMG = fileURLToPath(new URL("../../../docs/img/", import.meta.url));
const shots = process.env["COZEBUS_SCREENSHOTS"] === "1";

let server: NatsServer;
let bus: Bus;
let browser: Browser;
let page: Page;
let consoleProc: ConsoleProcess;

/** The catalogue is long: its first screen is enough to show it (and keeps the PNG small). */
async function shot(name: string, fullPage = true): Promise<void> {
  if (!shots) return;
  mkdirSync(IMG, { recursive: true });
  await page.screenshot({ path: `${IMG}console-${name}.png`, fullPage });
}

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: install Debian's Chromium (apt-get install -y chromium; .ci/run does); playwright-core drives it, no browser is downloaded`);
  server = await startNatsServer();
  bus = await openBus({ servers: server.url, env: {}, logger: silentLogger, onError: () => undefined });
  consoleProc = await startConsoleProcess([], { NATS_SERVER_URL: server.url, COZEBUS_CONSOLE_TOKEN: "" });
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ["--no-sandbox"] });
  page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
}, 90_000);

afterAll(async () => {
  await browser?.close();
  await consoleProc?.stop();
  await bus?.close();
  await server?.stop();
});

const text = async (selector: string): Promise<string> => (await page.locator(selector).first().textContent()) ?? "";

describe("cozebus console in Chromium", () => {
  it("browse every page, decode a dead letter, filter, replay a selection and a filter (confirmed, idempotent), delete one, tail a subject", { timeout: 90_000 }, async () => {
    const wf = workflow(bus);
    await wf.provision();
    const js = await bus.jetstream();
    // A real failing handler: NodeFailed alerts fail until "fixed"; every execution start fails for good.
    let fixed = false;
    const alerted: string[] = [];
    const alerts = await wf.nodeFailed.subscribe((e) => {
      if (!fixed) throw new NonRetryableError("alerting backend down");
      alerted.push(e.nodeId);
    }, { group: "alerts" });
    const runner = await wf.executionStarted.subscribe(() => {
      throw new NonRetryableError("runner refuses version 0");
    }, { group: "runner" });
    for (const node of ["llm_1", "llm_2", "llm_3"]) await wf.nodeFailed.publish({ workflowId: "wf_console", executeId: "7", nodeId: node, errorMessage: "rate limited" });
    await wf.executionStarted.publish({ workflowId: "wf_console", executeId: "8", version: "0" });
    await waitFor("four dead letters", async () => (await js.deadLetters.count()) === 4);

    // Catalogue
    await page.goto(`${consoleProc.url}/`);
    expect(page.url()).toBe(`${consoleProc.url}/catalog`);
    expect(await page.locator("#events tr", { hasText: "coze.workflow.v1.NodeFailed" }).count()).toBe(1);
    expect(await page.locator("#events tr", { hasText: "coze.knowledge." }).count()).toBeGreaterThan(0);
    await shot("catalog", false);

    // Streams, with their limits and the match with the schemas
    await page.click("nav >> text=Streams");
    const wfRow = page.locator('tr[data-stream="COZE_WORKFLOW"]');
    expect(await wfRow.textContent()).toMatch(/matches.*duplicate window 120s/s);
    expect(await page.locator('tr[data-stream="COZE_DLQ"] td.num').first().textContent()).toBe("4");
    await shot("streams");

    // Consumers by group: both groups, each having settled everything given (the failures went to the DLQ)
    await page.click("nav >> text=Consumers");
    const cellsOf = async (g: string): Promise<string[]> => page.locator(`table[data-group="${g}"] tbody tr`).first().locator("td").allTextContents();
    for (const [g, delivered] of [["alerts", "3"], ["runner", "4"]] as const) {
      const cells = await cellsOf(g);
      expect(cells[0]).toBe("COZE_WORKFLOW");
      expect(cells.slice(3, 6)).toEqual(["0", "0", "0"]); // lag, ack pending, redelivered
      expect(cells[7]).toBe(delivered); // the stream sequence it was given last: NodeFailed are 1..3, the start is 4
    }
    // A running subscriber keeps a pull parked on the server almost all the time; between two fetches it is briefly 0.
    await waitFor("a waiting pull of group alerts", async () => {
      await page.reload();
      return Number((await cellsOf("alerts"))[6]) >= 1;
    });
    await shot("consumers");

    // Dead letters, decoded by schema
    await page.click("nav >> text=Dead letters");
    expect(await text("#dlq-count")).toMatch(/^4 dead letter\(s\); 4 stored in COZE_DLQ/);
    expect(await page.locator("#dlq tbody tr", { hasText: '"nodeId":"llm_2"' }).count()).toBe(1);
    await shot("dlq");
    const seqOf = async (node: string): Promise<number> => Number(await page.locator("#dlq tbody tr", { hasText: `"nodeId":"${node}"` }).getAttribute("data-seq"));
    const startedSeq = Number(await page.locator("#dlq tbody tr", { hasText: "WorkflowExecutionStarted" }).getAttribute("data-seq"));
    await page.click(`a[href="/dlq/${await seqOf("llm_1")}"]`);
    expect(JSON.parse(await text("#payload pre"))).toEqual({ workflowId: "wf_console", executeId: "7", nodeId: "llm_1", errorMessage: "rate limited" });
    expect(await text("#dlq-entry")).toMatch(/non-retryable.*after 1 deliveries.*alerting backend down/s);
    await shot("dlq-entry");

    // Filters: by event type, by reason, by time
    await page.goto(`${consoleProc.url}/dlq`);
    await page.fill('#dlq-filter input[name="type"]', "NodeFailed");
    await page.click('#dlq-filter button[type="submit"]');
    expect(await text("#dlq-count")).toMatch(/^3 dead letter\(s\) match/);
    expect(await page.locator("#dlq tbody tr", { hasText: "WorkflowExecutionStarted" }).count()).toBe(0);
    await page.selectOption('#dlq-filter select[name="reason"]', "max-deliveries");
    await page.click('#dlq-filter button[type="submit"]');
    expect(await text("#dlq-count")).toMatch(/^0 dead letter\(s\) match/);
    await page.goto(`${consoleProc.url}/dlq?since=2099-01-01T00:00`);
    expect(await text("#dlq-count")).toMatch(/^0 dead letter\(s\) match/);
    await page.goto(`${consoleProc.url}/dlq?type=NodeFailed&since=2000-01-01T00:00`);
    expect(await text("#dlq-count")).toMatch(/^3 dead letter\(s\) match/);

    // Replay a selection of the filtered list: a confirmation page first, then the events arrive
    fixed = true;
    const before = (await js.jsm.streams.info("COZE_WORKFLOW")).state.last_seq;
    const picked = [await seqOf("llm_1"), await seqOf("llm_2")];
    for (const s of picked) await page.check(`#dlq input[name="seq"][value="${s}"]`);
    await page.click('button[value="replay-selected"]');
    expect(await text("#confirm-question")).toMatch(/^Replay 2 dead letter\(s\)\?/);
    expect(await Promise.all((await page.locator("#confirm-list tbody tr").all()).map(async (r) => Number(await r.getAttribute("data-seq"))))).toEqual(picked);
    expect(alerted).toEqual([]); // nothing happens before the confirmation
    await shot("confirm");
    const nonce = await page.locator('input[name="nonce"]').getAttribute("value");
    await page.click("#confirm");
    expect(await text("#result-summary")).toBe("Replayed 2; already gone 0; failed 0.");
    await shot("replayed");
    await waitFor("the replayed alerts to be handled", () => alerted.length === 2);
    expect([...alerted].sort()).toEqual(["llm_1", "llm_2"]);
    expect((await js.jsm.streams.info("COZE_WORKFLOW")).state.last_seq).toBe(before + 2);
    expect(await js.deadLetters.count()).toBe(2);

    // The same confirmation again (a reload, a double click): nothing more is published
    const again = await page.request.post(`${consoleProc.url}/dlq/replay`, { form: { nonce: nonce! } });
    expect(again.status()).toBe(200);
    expect(await again.text()).toContain("Replayed 0; already gone 2; failed 0.");
    expect((await js.jsm.streams.info("COZE_WORKFLOW")).state.last_seq).toBe(before + 2);

    // Replay what a filter matches
    await page.goto(`${consoleProc.url}/dlq?type=coze.workflow.v1.NodeFailed`);
    expect(await text("#dlq-count")).toMatch(/^1 dead letter\(s\) match/);
    await page.click('button[value="replay-filter"]');
    expect(await text("#confirm-question")).toMatch(/^Replay 1 dead letter\(s\)\?/);
    // Confirmed twice at once (the button and a second submit): one replays, the other finds it gone.
    const filterNonce = await page.locator('input[name="nonce"]').getAttribute("value");
    const [, twice] = await Promise.all([page.click("#confirm"), page.request.post(`${consoleProc.url}/dlq/replay`, { form: { nonce: filterNonce! } })]);
    const summaries = [await text("#result-summary"), /Replayed \d+; already gone \d+; failed \d+\./.exec(await twice.text())?.[0]].sort();
    expect(summaries).toEqual(["Replayed 0; already gone 1; failed 0.", "Replayed 1; already gone 0; failed 0."]);
    await waitFor("the third alert to be handled", () => alerted.length === 3);
    expect((await js.jsm.streams.info("COZE_WORKFLOW")).state.last_seq).toBe(before + 3);

    // Delete one, confirmed; deleting it again is a no-op success
    await page.goto(`${consoleProc.url}/dlq/${startedSeq}`);
    await page.click('button[value="delete-selected"]');
    expect(await text("#confirm-question")).toMatch(/^Delete 1 dead letter\(s\)\?/);
    const deleteNonce = await page.locator('input[name="nonce"]').getAttribute("value");
    await page.click("#confirm");
    expect(await text("#result-summary")).toBe("Deleted 1; already gone 0; failed 0.");
    expect(await js.deadLetters.count()).toBe(0);
    const deleteAgain = await page.request.post(`${consoleProc.url}/dlq/delete`, { form: { nonce: deleteNonce! } });
    expect(deleteAgain.status()).toBe(200);
    expect(await deleteAgain.text()).toContain("Deleted 0; already gone 1; failed 0.");
    expect((await js.jsm.streams.info("COZE_WORKFLOW")).state.last_seq).toBe(before + 3); // a delete publishes nothing
    await page.goto(`${consoleProc.url}/dlq/${startedSeq}`);
    expect(await text("#error")).toMatch(/no dead letter #\d+ in COZE_DLQ: it was replayed or deleted/);

    // Live tail of a subject pattern, decoded
    await page.goto(`${consoleProc.url}/tail`);
    await page.fill('#tail-form input[name="pattern"]', "coze.workflow.*.node_failed");
    await page.click('#tail-form button[type="submit"]');
    await page.waitForSelector("#tail-status.ok");
    expect(await text("#tail-status")).toBe("listening on coze.workflow.*.node_failed");
    await wf.nodeFailed.publish({ workflowId: "wf_tail", executeId: "9", nodeId: "tail_node", errorMessage: "seen live" });
    const row = page.locator("#tail-rows tr", { hasText: "tail_node" });
    await row.waitFor();
    expect(await row.textContent()).toMatch(/coze\.workflow\.wf_tail\.node_failed.*coze\.workflow\.v1\.NodeFailed.*"errorMessage": "seen live"/s);
    await shot("tail");

    await alerts.stop();
    await runner.stop();
  });
});
