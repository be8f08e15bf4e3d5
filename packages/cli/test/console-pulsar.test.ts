import { existsSync } from "node:fs";
import { chromium } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { NonRetryableError } from "@cozebus/core";
import { DeadLetters, connectPulsar, type PulsarTransport } from "@cozebus/pulsar";
import { startPulsar, waitFor, type PulsarBroker } from "@cozebus/testing";
import { workflow } from "@cozebus/workflow";
import { startConsoleProcess, type ConsoleProcess } from "./console-process.js";

/**
 * The console on Pulsar (COZE_MQ_TYPE=pulsar) against a real Pulsar
 * standalone: one broker for the file (it is heavy on 2 cores), real dead
 * letters from a failing handler, every page over HTTP, one pass in
 * Chromium when Debian's is installed.
 */
const CHROMIUM = "/usr/bin/chromium";

let broker: PulsarBroker;
let transport: PulsarTransport;
let c: ConsoleProcess;

beforeAll(async () => {
  broker = await startPulsar();
  transport = await connectPulsar({ env: { PULSAR_WEB_SERVICE_URL: broker.webServiceUrl }, onError: () => undefined });
  await workflow(transport).provision();
  c = await startConsoleProcess([], { COZE_MQ_TYPE: "pulsar", MQ_NAME_SERVER: broker.serviceUrl, PULSAR_WEB_SERVICE_URL: broker.webServiceUrl, NATS_SERVER_URL: undefined, COZEBUS_CONSOLE_TOKEN: "" });
}, 180_000);

afterAll(async () => {
  const r = await c?.stop();
  if (r !== undefined) expect(r.code, r.stderr).toBe(0);
  await transport?.close();
  await broker?.stop();
});

const unescape = (s: string): string => s.replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&amp;/g, "&");
const textOf = (html: string): string => unescape(html.replace(/<[^>]+>/g, ""));

async function get(path: string): Promise<string> {
  const res = await fetch(`${c.url}${path}`);
  const body = await res.text();
  expect(res.status, `${path}: ${body.slice(0, 500)}`).toBe(200);
  return body;
}

async function post(path: string, form: Record<string, string>): Promise<string> {
  const res = await fetch(`${c.url}${path}`, { method: "POST", body: new URLSearchParams(form) });
  const body = await res.text();
  expect(res.status, `${path}: ${body.slice(0, 500)}`).toBe(200);
  return body;
}

/** The inner HTML of the first element with this id. */
function byId(html: string, id: string): string {
  const m = new RegExp(`id="${id}"[^>]*>([\\s\\S]*?)</(?:p|table|div)>`).exec(html);
  if (m === null) throw new Error(`no #${id} in ${html.slice(0, 2000)}`);
  return m[1]!;
}

/** Table rows whose opening tag carries `attr="value"` (any value when none is given). */
function rows(html: string, attr: string, value?: string): string[] {
  const v = value === undefined ? '[^"]+' : value.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  return [...html.matchAll(new RegExp(`<tr [^>]*${attr}="${v}"[\\s\\S]*?</tr>`, "g"))].map((m) => m[0]);
}

const cells = (row: string): string[] => [...row.matchAll(/<td[^>]*>([\s\S]*?)<\/td>/g)].map((m) => textOf(m[1]!));

const published = async (local: string): Promise<number> => (await transport.admin.topicStats(`persistent://public/default/${local}`))!.msgInCounter;

async function subscriptionsOf(local: string): Promise<string[]> {
  return (await (await broker.admin(`/admin/v2/persistent/public/default/${local}/subscriptions`)).json()) as string[];
}

describe("cozebus console on Pulsar", () => {
  it("every page over HTTP: topics with retention and backlog, subscriptions per group, a dead letter decoded by schema; replay confirmed once, a second submit publishes nothing; delete; a live tail", { timeout: 150_000 }, async () => {
    const wf = workflow(transport);
    const dlq = new DeadLetters(transport, "workflow");
    let fixed = false;
    const alerted: string[] = [];
    const alerts = await wf.nodeFailed.subscribe(
      (e) => {
        if (!fixed) throw new NonRetryableError("alerting backend down");
        alerted.push(e.nodeId);
      },
      { group: "alerts", onError: () => undefined },
    );
    const runner = await wf.executionStarted.subscribe(() => {
      throw new NonRetryableError("runner refuses version 0");
    }, { group: "runner", onError: () => undefined });
    await wf.nodeFailed.publish({ workflowId: "wf_pulsar", executeId: "7", nodeId: "n_dead", errorMessage: "rate limited" });
    await wf.executionStarted.publish({ workflowId: "wf_pulsar", executeId: "8", version: "0" });
    await waitFor("two dead letters", async () => (await dlq.count()) === 2, 30_000);

    // Header and catalogue
    const catalog = await get("/catalog");
    expect(catalog).toContain(`pulsar ${broker.webServiceUrl} (namespace public/default)`);
    expect(catalog).toContain("coze.workflow.v1.NodeFailed");

    // Topics: what each carries, the namespace's retention, the backlog; what Pulsar does not report says so
    // The broker's topic stats trail its acks by a moment: the dead-lettered event's ack is seen once its backlog size reads 0.
    let topics = "";
    const nodeFailedCells = (): string[] => cells(rows(topics, "data-stream", "coze.workflow.node_failed")[0] ?? "");
    await waitFor("the topic stats to count the dead-lettered event's ack", async () => {
      topics = await get("/streams");
      return nodeFailedCells()[8] === "backlog 0 Bpublishers 1";
    }, 15_000).catch(() => undefined); // the assertion below says what was shown instead
    expect(topics).toContain("<h1>Topics</h1>");
    const nodeFailed = cells(rows(topics, "data-stream", "coze.workflow.node_failed")[0]!);
    expect(nodeFailed[1]).toBe("coze.workflow.{workflow_id}.node_failed");
    expect(nodeFailed[2]).toBe("coze.workflow.v1.NodeFailed");
    expect(nodeFailed[3]).toBe("1"); // published
    expect(nodeFailed[6]).toMatch(/^n\/a: /); // no last publish time in the stats
    expect(nodeFailed[8]).toBe("backlog 0 Bpublishers 1");
    expect(textOf(byId(topics, "streams-note"))).toMatch(/Limits are the namespace's, for every topic: retention of acked messages \d+ min \/ \d+ MB, message TTL none/);
    const dlqRow = cells(rows(topics, "data-stream", "coze.workflow-DLQ")[0]!);
    expect(dlqRow[2]).toBe("dead letters of domain workflow");
    expect(dlqRow[5]).toBe("2"); // the backlog of cozebus-dlq: the dead letters
    expect(textOf(topics)).not.toContain("not a cozebus topic");

    // Subscriptions by group
    const consumers = await get("/consumers");
    const alertRow = cells(rows(consumers, "data-consumer", "alerts")[0]!);
    expect(alertRow.slice(0, 2)).toEqual(["coze.workflow.node_failed", "alerts"]);
    expect(alertRow.slice(3, 5)).toEqual(["0", "0"]); // backlog, ack pending: the failure went to the dead letters
    expect(alertRow[5]).toMatch(/^n\/a: no count, [\d.]+\/s now$/); // redelivered
    expect(alertRow[6]).toMatch(/^1 \(\d+ permits\)$/); // one consumer connected
    expect(alertRow[7]).toMatch(/^n\/a: /);
    const keeper = cells(rows(consumers, "data-container", "coze.workflow-DLQ")[0]!);
    expect(keeper.slice(1, 4)).toEqual(["cozebus-dlq", expect.stringMatching(/^n\/a: /) as unknown as string, "2"]);

    // Dead letters, decoded by schema
    const list = await get("/dlq");
    expect(textOf(byId(list, "dlq-count"))).toMatch(/^2 dead letter\(s\); 2 stored in the dead-letter topics coze\.<domain>-DLQ/);
    const deadRow = rows(list, "data-seq").find((r) => textOf(r).includes('"nodeId":"n_dead"'))!;
    const id = /data-seq="([^"]+)"/.exec(deadRow)![1]!;
    expect(id).toMatch(/^workflow\/\d+:\d+$/);
    const startedId = /data-seq="([^"]+)"/.exec(rows(list, "data-seq").find((r) => textOf(r).includes("WorkflowExecutionStarted"))!)![1]!;
    expect(cells(deadRow).slice(3, 10)).toEqual(["non-retryable", "1", "coze.workflow.v1.NodeFailed", "coze.workflow.wf_pulsar.node_failed", "persistent://public/default/coze.workflow.node_failed", "alerts", "alerting backend down"]);
    const detailPath = `/dlq/workflow/${encodeURIComponent(id.slice("workflow/".length))}`;
    expect(list).toContain(`href="${detailPath}"`);
    const detail = await get(detailPath);
    expect(JSON.parse(unescape(/<div id="payload"><pre class="json">([\s\S]*?)<\/pre>/.exec(detail)![1]!))).toEqual({ workflowId: "wf_pulsar", executeId: "7", nodeId: "n_dead", errorMessage: "rate limited" });
    expect(textOf(byId(detail, "dlq-entry"))).toMatch(/workflow\/\d+:\d+ in coze\.workflow-DLQ, 20\d\d-.*non-retryable after 1 deliveries.*alerting backend down.*topic persistent:\/\/public\/default\/coze\.workflow\.node_failed, subscription alerts/s);
    expect(textOf(await get("/dlq?type=NodeFailed"))).toMatch(/1 dead letter\(s\) match/);

    // Replay: a confirmation first, nothing published before it
    fixed = true;
    const before = await published("coze.workflow.node_failed");
    const confirm = await post("/dlq/confirm", { do: "replay-selected", seq: id });
    expect(textOf(byId(confirm, "confirm-question"))).toMatch(/^Replay 1 dead letter\(s\)\?/);
    expect(rows(confirm, "data-seq", id)).toHaveLength(1);
    const nonce = /name="nonce" value="([^"]+)"/.exec(confirm)![1]!;
    expect(await published("coze.workflow.node_failed")).toBe(before);
    const done = await post("/dlq/replay", { nonce });
    expect(textOf(byId(done, "result-summary"))).toBe("Replayed 1; already gone 0; failed 0.");
    expect(textOf(rows(done, "data-seq", id)[0]!)).toContain("replayed to coze.workflow.wf_pulsar.node_failed (topic persistent://public/default/coze.workflow.node_failed)");
    await waitFor("the replayed alert to be handled", () => alerted.length === 1, 30_000);
    expect(alerted).toEqual(["n_dead"]);
    expect(await published("coze.workflow.node_failed")).toBe(before + 1);
    expect(textOf(byId(await get("/dlq"), "dlq-count"))).toMatch(/^1 dead letter\(s\); 1 stored/);
    const goneRes = await fetch(`${c.url}${detailPath}`);
    expect(goneRes.status).toBe(404);
    expect(textOf(await goneRes.text())).toMatch(/no dead letter workflow\/\d+:\d+ in the dead-letter topics .*: it was replayed or deleted/);

    // The same confirmation again (a reload, a double click): nothing more is published
    const again = await post("/dlq/replay", { nonce });
    expect(textOf(byId(again, "result-summary"))).toBe("Replayed 0; already gone 1; failed 0.");
    expect(await published("coze.workflow.node_failed")).toBe(before + 1);
    expect(alerted).toEqual(["n_dead"]);

    // Delete the other, confirmed; deleting it again is a no-op success
    const startedBefore = await published("coze.workflow.started");
    const delConfirm = await post("/dlq/confirm", { do: "delete-selected", seq: startedId });
    const delNonce = /name="nonce" value="([^"]+)"/.exec(delConfirm)![1]!;
    expect(textOf(byId(await post("/dlq/delete", { nonce: delNonce }), "result-summary"))).toBe("Deleted 1; already gone 0; failed 0.");
    await waitFor("the dead letters to be empty", async () => (await dlq.count()) === 0, 30_000);
    expect(textOf(byId(await post("/dlq/delete", { nonce: delNonce }), "result-summary"))).toBe("Deleted 0; already gone 1; failed 0.");
    expect(await published("coze.workflow.started")).toBe(startedBefore); // a delete publishes nothing

    // A forged or malformed id is refused, never run
    expect((await fetch(`${c.url}/dlq/replay`, { method: "POST", body: new URLSearchParams({ nonce: "forged" }) })).status).toBe(403);
    expect((await fetch(`${c.url}/dlq/confirm`, { method: "POST", body: new URLSearchParams({ do: "replay-selected", seq: "7" }) })).status).toBe(400);

    // Live tail of one event: only what is published while it listens, decoded; its subscription goes when it ends
    const tailPage = await get("/tail?pattern=workflow.nodeFailed");
    expect(tailPage).toContain("a subscription of the console");
    const abort = new AbortController();
    const res = await fetch(`${c.url}/tail/events?pattern=workflow.nodeFailed`, { signal: abort.signal });
    const reader = res.body!.getReader();
    let seen = "";
    const readUntil = async (re: RegExp): Promise<RegExpExecArray> => {
      for (;;) {
        const m = re.exec(seen);
        if (m !== null) return m;
        const { value, done: end } = await reader.read();
        if (end) throw new Error(`the tail ended: ${seen}`);
        seen += new TextDecoder().decode(value as Uint8Array);
      }
    };
    const ready = await readUntil(/event: ready\ndata: (.*)\n/);
    const own = /subscription (cozebus-console-[0-9a-f]+)/.exec(ready[1]!)![1]!;
    expect(await subscriptionsOf("coze.workflow.node_failed")).toContain(own);
    await wf.nodeFailed.publish({ workflowId: "wf_tail", executeId: "9", nodeId: "tail_node", errorMessage: "seen live" });
    const event = JSON.parse((await readUntil(/\ndata: (\{"subject".*)\n/))[1]!) as Record<string, unknown>;
    expect(event).toMatchObject({ subject: "coze.workflow.wf_tail.node_failed", type: "coze.workflow.v1.NodeFailed", data: { nodeId: "tail_node", errorMessage: "seen live" } });
    expect(seen).not.toContain("n_dead"); // the tail starts at the newest event, not at what the topic kept
    abort.abort();
    await waitFor("the tail's subscription to be removed", async () => !(await subscriptionsOf("coze.workflow.node_failed")).includes(own), 30_000);
    const wildcard = await (await fetch(`${c.url}/tail/events?pattern=coze.*.started`)).text();
    expect(wildcard).toMatch(/event: failed\ndata: .*no subject wildcards/);

    await alerts.stop();
    await runner.stop();
  });

  it.skipIf(!existsSync(CHROMIUM))("one pass in Chromium: each page renders with no error and the n/a cells say why", { timeout: 60_000 }, async () => {
    const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ["--no-sandbox"] });
    try {
      const page = await browser.newPage();
      const errors: string[] = [];
      page.on("pageerror", (e) => errors.push(e.message));
      for (const [path, title] of [["/catalog", "Event catalogue"], ["/streams", "Topics"], ["/consumers", "Consumers by group"], ["/dlq", "Dead letters"], ["/tail", "Live tail"]] as const) {
        const r = await page.goto(`${c.url}${path}`);
        expect(r?.status(), path).toBe(200);
        expect(await page.locator("h1").textContent()).toBe(title);
      }
      await page.goto(`${c.url}/consumers`);
      expect(await page.locator('table[data-group="alerts"] .na').first().getAttribute("title")).toMatch(/^the whole topic \(a (Shared )?subscription has no filter\)$/);
      await page.goto(`${c.url}/tail?pattern=workflow.nodeFailed`);
      await page.waitForSelector("#tail-status.ok");
      expect(await page.locator("#tail-status").textContent()).toMatch(/^listening on persistent:\/\/public\/default\/coze\.workflow\.node_failed \(subscription cozebus-console-/);
      expect(errors).toEqual([]);
    } finally {
      await browser.close();
    }
  });

  it("stopping the console (SIGTERM) with a tail open removes the tail's subscription before it exits", { timeout: 60_000 }, async () => {
    const res = await fetch(`${c.url}/tail/events?pattern=workflow.nodeCompleted`);
    const reader = res.body!.getReader();
    let seen = "";
    while (!/event: ready\ndata: .*\n/.test(seen)) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`the tail ended: ${seen}`);
      seen += new TextDecoder().decode(value as Uint8Array);
    }
    const own = /subscription (cozebus-console-[0-9a-f]+)/.exec(seen)![1]!;
    expect(await subscriptionsOf("coze.workflow.node_completed")).toContain(own);
    const r = await c.stop();
    expect(r.code, r.stderr).toBe(0);
    expect(await subscriptionsOf("coze.workflow.node_completed")).not.toContain(own);
  });
});
