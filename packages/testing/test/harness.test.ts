import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { NatsServerNotFoundError, findNatsServerBinary, startNatsCluster, startNatsServer } from "../src/index.js";
import { rebaseConfig } from "../src/config.js";
import { goneWithin } from "./process-state.js";

const cleanup: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c().catch(() => undefined);
});

async function client(servers: string | string[]): Promise<NatsConnection> {
  const nc = await connect({ servers });
  cleanup.push(() => nc.close());
  return nc;
}

const enc = (v: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(v));
async function jsApi(nc: NatsConnection, api: string, body: unknown = {}): Promise<Record<string, unknown>> {
  const reply = await nc.request(`$JS.API.${api}`, enc(body), { timeout: 5000 });
  return reply.json<Record<string, unknown>>();
}


describe("startNatsServer", () => {
  it("runs a JetStream server on a random loopback port in its own folder, and stop() removes it all", async () => {
    const s = await startNatsServer();
    cleanup.push(() => s.stop());
    expect(s.url).toMatch(/^nats:\/\/127\.0\.0\.1:\d+$/);
    expect(s.port).not.toBe(4222);
    const nc = await client(s.url);
    expect(nc.info?.jetstream).toBe(true);
    expect(existsSync(s.dir)).toBe(true);
    const pid = s.pid!;
    await nc.close();
    await s.stop();
    expect(s.running).toBe(false);
    expect(existsSync(s.dir)).toBe(false);
    expect(await goneWithin(pid, 10_000)).toBe(true);
    await s.stop(); // twice is fine
  });

  it("two servers never share a port or a folder", async () => {
    const [a, b] = await Promise.all([startNatsServer(), startNatsServer()]);
    cleanup.push(() => a.stop(), () => b.stop());
    expect(a.port).not.toBe(b.port);
    expect(a.dir).not.toBe(b.dir);
  });

  it("restart after a crash keeps the port and the JetStream store", async () => {
    const s = await startNatsServer();
    cleanup.push(() => s.stop());
    let nc = await client(s.url);
    await jsApi(nc, "STREAM.CREATE.KEEP", { name: "KEEP", subjects: ["keep.>"], storage: "file" });
    const ack = await nc.request("keep.1", enc("x"), { timeout: 5000 });
    expect(ack.json<{ seq: number }>().seq).toBe(1);
    await nc.close();
    await s.restart("SIGKILL");
    nc = await client(s.url);
    const info = await jsApi(nc, "STREAM.INFO.KEEP");
    expect((info["state"] as { messages: number }).messages).toBe(1);
  });

  it("baseConfigFile: keeps a user's limits, moves it to loopback ports and its own store", async () => {
    const dir = mkdtempSync(join(tmpdir(), "cozebus-base-"));
    cleanup.push(() => Promise.resolve(rmSync(dir, { recursive: true, force: true })));
    const file = join(dir, "nats.conf");
    writeFileSync(file, 'port: 4222\nhttp_port: 8222\nmax_payload: 512KB\njetstream {\n  store_dir: "/data/jetstream"\n  max_memory_store: 64MB\n}\n');
    const s = await startNatsServer({ baseConfigFile: file });
    cleanup.push(() => s.stop());
    expect(s.port).not.toBe(4222);
    const varz = (await (await fetch(`${s.monitorUrl}/varz`)).json()) as { max_payload: number; jetstream: { config: { store_dir: string; max_memory: number } } };
    expect(varz.max_payload).toBe(512 * 1024);
    expect(varz.jetstream.config.max_memory).toBe(64 * 1024 * 1024);
    expect(varz.jetstream.config.store_dir.startsWith(s.dir)).toBe(true);
    const folders = (): string[] => readdirSync(tmpdir()).filter((f) => f.startsWith("cozebus-nats-single-"));
    const before = new Set(folders());
    await expect(startNatsServer({ baseConfigFile: join(dir, "missing.conf") })).rejects.toThrow(/baseConfigFile .*missing\.conf cannot be read \(ENOENT\)/);
    // Its folder is gone too. (Servers of other test processes may come and go meanwhile, but theirs hold a nats.conf.)
    const leaked = folders().filter((f) => !before.has(f) && !existsSync(join(tmpdir(), f, "nats.conf")));
    expect(leaked).toEqual([]);
  });

  it("rebaseConfig gives a jetstream block without store_dir this server's store", () => {
    expect(rebaseConfig("jetstream {\n max_file_store: 1GB\n}", "/tmp/x").text).toBe('jetstream { store_dir: "/tmp/x",\n max_file_store: 1GB\n}');
    expect(rebaseConfig("jetstream: { store_dir: /data, max_file_store: 1GB }", "/tmp/x")).toEqual({ text: 'jetstream: { store_dir: "/tmp/x", max_file_store: 1GB }', hasJetStream: true });
    expect(rebaseConfig("port: 4222\ncluster {\n  port: 6222\n}\nmax_payload: 1MB", "/tmp/x")).toEqual({
      text: "# (set by @cozebus/testing) port: 4222\ncluster {\n  port: 6222\n}\nmax_payload: 1MB",
      hasJetStream: false,
    });
  });

  it("jetstream: false starts a core-only server", async () => {
    const s = await startNatsServer({ jetstream: false });
    cleanup.push(() => s.stop());
    const nc = await client(s.url);
    expect(nc.info?.jetstream ?? false).toBe(false);
  });

  it("a server that cannot start reports its own log", async () => {
    await expect(startNatsServer({ extraConfig: "this is not { valid" })).rejects.toThrow(/exited during start-up[\s\S]*Parse error/);
  });

  it("a missing binary is a clear error that says how to install it", () => {
    let caught: unknown;
    try {
      findNatsServerBinary({ NATS_SERVER_BIN: "/nonexistent/nats-server" });
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(NatsServerNotFoundError);
    expect((caught as Error).message).toMatch(/NATS_SERVER_BIN=\/nonexistent\/nats-server.*apt-get install nats-server/);
  });

  it("a server left running when the process exits is killed and its folder deleted", async () => {
    const script = fileURLToPath(new URL("./fixtures/abandon.mjs", import.meta.url));
    const run = spawnSync(process.execPath, [script], { encoding: "utf8", timeout: 30_000 });
    expect(run.status).toBe(0);
    const { dir, pid } = JSON.parse(run.stdout.trim()) as { dir: string; pid: number };
    expect(pid).toBeGreaterThan(0);
    expect(existsSync(dir)).toBe(false);
    expect(await goneWithin(pid, 10_000)).toBe(true);
  });
});

describe("startNatsCluster", () => {
  it("forms a 3-node JetStream cluster with routes, holds an R3 stream, and survives losing a node", async () => {
    const cluster = await startNatsCluster();
    cleanup.push(() => cluster.stop());
    expect(cluster.servers).toHaveLength(3);
    for (const node of cluster.servers) {
      // Distinct peers, not num_routes: 2.10+ pools several routes per peer (2.12 reports 8 here).
      const routez = (await (await fetch(`${node.monitorUrl}/routez`)).json()) as { routes: Array<{ remote_id: string }> };
      expect(new Set(routez.routes.map((r) => r.remote_id)).size).toBe(2);
    }
    const nc = await client([...cluster.urls]);
    // The meta leader may still be settling right after start: retry the create briefly.
    let created: Record<string, unknown> = {};
    for (let i = 0; i < 50; i++) {
      created = await jsApi(nc, "STREAM.CREATE.R3", { name: "R3", subjects: ["r3.>"], num_replicas: 3 }).catch(() => ({}));
      if (created["config"]) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    expect((created["config"] as { num_replicas: number }).num_replicas).toBe(3);
    expect(((created["cluster"] as { replicas?: unknown[] }).replicas ?? []).length).toBe(2);
    // Stored, retried briefly: the create answers before the stream's subjects are known on every
    // node (2.10+ often replies "no responders" for a moment), and after a node loss until a new leader is up.
    const stored = async (subject: string): Promise<boolean> => {
      for (let i = 0; i < 50; i++) {
        if (await nc.request(subject, enc("x"), { timeout: 2000 }).then((m) => "seq" in m.json<object>(), () => false)) return true;
        await new Promise((r) => setTimeout(r, 200));
      }
      return false;
    };
    expect(await stored("r3.a")).toBe(true);
    const victim = cluster.servers[2]!;
    await victim.kill("SIGKILL");
    // Still writable with 2 of 3 nodes.
    expect(await stored("r3.b")).toBe(true);
    await victim.start();
    expect(victim.running).toBe(true);
  });
});
