import { existsSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { startNatsServer } from "../src/index.js";
import { renderConfig, renderLeafnodes } from "../src/config.js";

/** Requests until a responder's interest has crossed the leaf connection (bounded: 10 s). */
async function requestWhenHeard(nc: NatsConnection, subject: string, body: string): Promise<{ data: Uint8Array }> {
  const until = Date.now() + 10_000;
  for (;;) {
    try {
      return await nc.request(subject, new TextEncoder().encode(body), { timeout: 5000 });
    } catch (err) {
      if (Date.now() > until || !/no responders/i.test(String(err))) throw err;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

const cleanup: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c().catch(() => undefined);
});

async function client(servers: string): Promise<NatsConnection> {
  const nc = await connect({ servers });
  cleanup.push(() => nc.close());
  return nc;
}

const base = { serverName: "t", port: 1, httpPort: 2, storeDir: "/tmp/x", jetstream: true };
const folders = (): string[] => readdirSync(tmpdir()).filter((f) => f.startsWith("cozebus-nats-single-"));

describe("leaf node and JetStream domain configuration", () => {
  it("renders the domain inside the jetstream block, and a leafnodes block on loopback", () => {
    const text = renderConfig({ ...base, jetstreamDomain: "hub", leafnodes: { port: 7422, remotes: ["nats-leaf://127.0.0.1:7423"] } });
    expect(text).toMatch(/jetstream \{ store_dir: "\/tmp\/x", .*, domain: "hub" \}/);
    expect(text).toContain(`leafnodes { listen: "127.0.0.1:7422", remotes: [{ url: "nats-leaf://127.0.0.1:7423" }] }`);
    expect(renderLeafnodes({ port: 9 })).toBe(`leafnodes { listen: "127.0.0.1:9" }`);
    expect(renderConfig(base)).not.toMatch(/domain|leafnodes/);
  });

  it.each<[string, Parameters<typeof renderConfig>[0], RegExp]>([
    ["a domain without JetStream", { ...base, jetstream: false, jetstreamDomain: "hub" }, /needs JetStream on/],
    ["a domain of two tokens", { ...base, jetstreamDomain: "hub.eu" }, /is not one token/],
    ["a domain with a wildcard", { ...base, jetstreamDomain: "*" }, /is not one token/],
    ["a domain next to a base config's jetstream block", { ...base, jetstreamDomain: "hub", baseConfig: "jetstream { max_file_store: 1GB }" }, /set domain there/],
    ["a remote that is not a URL", { ...base, leafnodes: { remotes: ["127.0.0.1:7422"] } }, /is not a URL; expected e.g. nats-leaf:\/\//],
    ["a remote with another scheme", { ...base, leafnodes: { remotes: ["http://127.0.0.1:7422"] } }, /use nats-leaf:\/\//],
    ["a remote off loopback", { ...base, leafnodes: { remotes: ["nats-leaf://10.0.0.1:7422"] } }, /not on loopback/],
  ])("refuses %s", (_label, spec, message) => {
    expect(() => renderConfig(spec)).toThrow(message);
  });

  it("a bad leaf option fails before start-up and leaves no temp folder", async () => {
    const before = new Set(folders());
    await expect(startNatsServer({ leafRemotes: ["nats-leaf://192.0.2.1:7422"] })).rejects.toThrow(/not on loopback/);
    await expect(startNatsServer({ jetstream: false, jetstreamDomain: "hub" })).rejects.toThrow(/needs JetStream on/);
    // Servers of other test processes may come and go meanwhile, but theirs hold a nats.conf.
    expect(folders().filter((f) => !before.has(f) && !existsSync(join(tmpdir(), f, "nats.conf")))).toEqual([]);
  });
});

describe("a hub in JetStream domain hub and a leaf node without JetStream", () => {
  it("a client on the leaf reaches the hub's JetStream through the domain, and only through it", async () => {
    const hub = await startNatsServer({ jetstreamDomain: "hub", leafnodeListen: true });
    cleanup.push(() => hub.stop());
    expect(hub.leafnodeUrl).toMatch(/^nats-leaf:\/\/127\.0\.0\.1:\d+$/);
    const leaf = await startNatsServer({ jetstream: false, leafRemotes: [hub.leafnodeUrl!] });
    cleanup.push(() => leaf.stop());
    expect(leaf.leafnodeUrl).toBeUndefined();

    const nc = await client(leaf.url);
    expect(nc.info?.jetstream).toBeFalsy(); // the leaf itself has none
    const jsm = await jetstreamManager(nc, { domain: "hub" });
    expect((await jsm.getAccountInfo()).domain).toBe("hub");
    // The leaf node blocks the plain API: without the domain there is no JetStream here.
    await expect(jetstreamManager(nc)).rejects.toThrow(/jetstream is not enabled/i);

    // Core traffic crosses the leaf connection both ways.
    const onHub = await client(hub.url);
    const sub = onHub.subscribe("probe.echo", { callback: (_e, m) => void m.respond(m.data) });
    await onHub.flush();
    // The hub tells the leaf about the new interest asynchronously: until it has, a request is "no responders".
    const reply = await requestWhenHeard(nc, "probe.echo", "ping");
    expect(new TextDecoder().decode(reply.data)).toBe("ping");
    sub.unsubscribe();
  });

  it("restart waits for the leaf connection again", async () => {
    const hub = await startNatsServer({ jetstreamDomain: "hub", leafnodeListen: true });
    cleanup.push(() => hub.stop());
    const leaf = await startNatsServer({ jetstream: false, leafRemotes: [hub.leafnodeUrl!] });
    cleanup.push(() => leaf.stop());
    await leaf.restart();
    const leafz = (await (await fetch(`${leaf.monitorUrl}/leafz`)).json()) as { leafnodes: number };
    expect(leafz.leafnodes).toBe(1);
    expect(existsSync(leaf.dir)).toBe(true);
  });
});
