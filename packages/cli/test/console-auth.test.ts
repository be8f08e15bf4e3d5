import { request } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startNatsServer, type NatsServer } from "@cozebus/testing";
import { runCli } from "./run-cli.js";
import { startConsoleProcess, type ConsoleProcess } from "./console-process.js";

let server: NatsServer;
const TOKEN = "a-console-token-of-32-characters";

beforeAll(async () => {
  server = await startNatsServer();
});
afterAll(async () => {
  await server?.stop();
});

/** A raw GET with the Host header of our choosing (fetch does not let one set it). */
function getWithHost(url: string, host: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers: { host } }, (res) => {
      let body = "";
      res.on("data", (c: Buffer) => (body += c.toString()));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on("error", reject);
    req.end();
  });
}

describe("cozebus console: who may use it", () => {
  it("refuses a non-loopback --host without a token, naming --token and COZEBUS_CONSOLE_TOKEN (exit 2, nothing bound)", async () => {
    const r = await runCli(["console", "--host", "0.0.0.0", "--port", "0"], { NATS_SERVER_URL: server.url, COZEBUS_CONSOLE_TOKEN: "" });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^cozebus: --host 0\.0\.0\.0 is reachable from other machines.*--token <secret> or COZEBUS_CONSOLE_TOKEN/);
    const short = await runCli(["console", "--host", "0.0.0.0", "--port", "0", "--token", "short"], { NATS_SERVER_URL: server.url });
    expect(short.code).toBe(2);
    expect(short.stderr).toMatch(/at least 16 characters/);
  });

  it("has its own --help and is listed in cozebus --help", async () => {
    const own = await runCli(["console", "--help"], {});
    expect(own.code).toBe(0);
    expect(own.stdout).toMatch(/^usage: cozebus console \[--host H\] \[--port P\] \[--token T\]/);
    const all = await runCli(["--help"], {});
    expect(all.stdout).toMatch(/\n  console \[--host H\].*\n {6}a web console on http:\/\/127\.0\.0\.1:7464/);
  });

  it("on Pulsar too, a non-loopback --host without a token is refused before anything connects (exit 2)", async () => {
    const r = await runCli(["console", "--mq-type", "pulsar", "--host", "0.0.0.0"], { MQ_NAME_SERVER: "pulsar://127.0.0.1:1", COZEBUS_CONSOLE_TOKEN: "" });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--host 0\.0\.0\.0 is reachable from other machines.*--token/);
    expect(r.stderr).not.toMatch(/NATS only|NATS-only/);
  });

  describe("with a token", () => {
    let c: ConsoleProcess;
    beforeAll(async () => {
      c = await startConsoleProcess(["--token", TOKEN], { NATS_SERVER_URL: server.url });
    });
    afterAll(async () => {
      const r = await c?.stop();
      expect(r?.code).toBe(0);
    });

    it("answers 401 to no token and to a wrong one, on every path (the tail's events too)", async () => {
      for (const path of ["/", "/catalog", "/dlq", "/tail/events?pattern=coze.>", "/assets/console.js", "/nope"]) {
        const none = await fetch(c.url + path, { redirect: "manual" });
        expect(none.status, path).toBe(401);
        expect(await none.text()).toMatch(/needs its token/);
        const wrong = await fetch(c.url + path, { headers: { authorization: `Bearer ${TOKEN.replace(/a/g, "b")}` }, redirect: "manual" });
        expect(wrong.status, path).toBe(401);
        const wrongQuery = await fetch(`${c.url}${path}${path.includes("?") ? "&" : "?"}token=nottheone`, { redirect: "manual" });
        expect(wrongQuery.status, path).toBe(401);
      }
      const post = await fetch(`${c.url}/dlq/replay`, { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: "nonce=x" });
      expect(post.status).toBe(401);
    });

    it("serves the right token from a Bearer header, and ?token= once sets a cookie and drops it from the address", async () => {
      const ok = await fetch(`${c.url}/catalog`, { headers: { authorization: `Bearer ${TOKEN}` } });
      expect(ok.status).toBe(200);
      expect(await ok.text()).toContain("coze.workflow.v1.NodeFailed");
      const first = await fetch(`${c.url}/streams?token=${TOKEN}`, { redirect: "manual" });
      expect(first.status).toBe(303);
      expect(first.headers.get("location")).toBe("/streams");
      const cookie = first.headers.get("set-cookie")!;
      expect(cookie).toMatch(/^cozebus_console=.*HttpOnly; SameSite=Strict/);
      const withCookie = await fetch(`${c.url}/streams`, { headers: { cookie: cookie.split(";")[0]! } });
      expect(withCookie.status).toBe(200);
    });

    it("replay and delete without a confirmation are refused (403), with the way to confirm", async () => {
      for (const action of ["replay", "delete"]) {
        const r = await fetch(`${c.url}/dlq/${action}`, { method: "POST", headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/x-www-form-urlencoded" }, body: "nonce=made-up" });
        expect(r.status).toBe(403);
        expect(await r.text()).toContain(`${action} needs the confirmation step`);
      }
    });
  });

  describe("without a token, on loopback", () => {
    let c: ConsoleProcess;
    beforeAll(async () => {
      c = await startConsoleProcess([], { NATS_SERVER_URL: server.url, COZEBUS_CONSOLE_TOKEN: "" });
    });
    afterAll(async () => {
      await c?.stop();
    });

    it("binds 127.0.0.1 and serves loopback names; another Host (DNS rebinding) gets 403", async () => {
      expect(c.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      expect((await fetch(`${c.url}/catalog`)).status).toBe(200);
      const port = new URL(c.url).port;
      expect((await getWithHost(`${c.url}/catalog`, `localhost:${port}`)).status).toBe(200);
      const rebound = await getWithHost(`${c.url}/catalog`, `attacker.example:${port}`);
      expect(rebound.status).toBe(403);
      expect(rebound.body).toMatch(/is not this console's address/);
    });

    it("an unknown page is 404 naming the pages; a bad filter is 400 naming the field", async () => {
      const nope = await fetch(`${c.url}/nope`);
      expect(nope.status).toBe(404);
      expect(await nope.text()).toMatch(/\/catalog, \/streams, \/consumers, \/dlq and \/tail/);
      const bad = await fetch(`${c.url}/dlq?reason=bored`);
      expect(bad.status).toBe(400);
      expect(await bad.text()).toMatch(/reason must be one of non-retryable/);
    });
  });
});
