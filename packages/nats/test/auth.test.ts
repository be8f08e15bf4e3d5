import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createNkeyUser, createOperatorSetup, startNatsServer, type NatsServer, type OperatorSetup } from "@cozebus/testing";
import { AuthError, PermissionError, openBus, type Bus, type BusOptions } from "../src/index.js";
import { bytes, memoryLogger, text, waitFor } from "./helpers.js";

const dir = mkdtempSync(join(tmpdir(), "cozebus-auth-test-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const quiet = { logger: memoryLogger() };

/** Connects, proves the connection works with a round trip, and closes. */
async function roundTrip(options: BusOptions): Promise<void> {
  const bus = await openBus({ ...quiet, ...options });
  try {
    const got: string[] = [];
    await bus.subscribe("coze.auth.check", (m) => {
      got.push(text(m.data));
    });
    bus.publish("coze.auth.check", bytes("hello"), { type: "test.Check" });
    await waitFor("the round trip", () => got.length === 1);
    expect(got).toEqual(["hello"]);
  } finally {
    await bus.close();
  }
}

async function refused(options: BusOptions, secret?: string): Promise<AuthError> {
  const err = await openBus({ ...quiet, ...options }).then(
    async (b) => {
      await b.close();
      throw new Error("connected with bad credentials");
    },
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(AuthError);
  const e = err as AuthError;
  expect(e.code).toBe("AUTH_FAILED");
  if (secret !== undefined) expect(e.message).not.toContain(secret);
  return e;
}

describe("token", () => {
  let server: NatsServer;
  beforeAll(async () => {
    server = await startNatsServer({ auth: { token: "t0ken-s3cret" } });
  });
  afterAll(() => server?.stop());

  it("connects from NATS_TOKEN", () => roundTrip({ env: { NATS_SERVER_URL: server.url, NATS_TOKEN: "t0ken-s3cret" } }));
  it("connects from options", () => roundTrip({ servers: server.url, env: {}, auth: { method: "token", token: "t0ken-s3cret" } }));
  it("a wrong token is an AuthError naming the variable, not the value", async () => {
    const e = await refused({ env: { NATS_SERVER_URL: server.url, NATS_TOKEN: "wrong-t0ken" } }, "wrong-t0ken");
    expect(e.message).toMatch(/token from NATS_TOKEN/);
  });
  it("no credentials at all says which variables to set", async () => {
    const e = await refused({ env: { NATS_SERVER_URL: server.url } });
    expect(e.message).toMatch(/requires credentials: set NATS_TOKEN/);
  });
});

describe("user/password, per-user permissions", () => {
  let server: NatsServer;
  beforeAll(async () => {
    server = await startNatsServer({
      auth: {
        users: [
          { user: "svc", password: "pa55-s3cret" },
          { user: "reader", password: "r3ader", permissions: { publish: ["_INBOX.>"], subscribe: ["coze.public.>", "_INBOX.>"] } },
        ],
      },
    });
  });
  afterAll(() => server?.stop());

  it("connects from NATS_USERNAME/NATS_PASSWORD", () =>
    roundTrip({ env: { NATS_SERVER_URL: server.url, NATS_USERNAME: "svc", NATS_PASSWORD: "pa55-s3cret" } }));
  it("a wrong password is an AuthError without the password", () =>
    refused({ env: { NATS_SERVER_URL: server.url, NATS_USERNAME: "svc", NATS_PASSWORD: "bad-pa55" } }, "bad-pa55"));
  it("a subscription the user may not make is a PermissionError when subscribe() resolves", async () => {
    const bus = await openBus({ ...quiet, env: {}, servers: server.url, auth: { method: "user-password", user: "reader", password: "r3ader" }, onError: () => {} });
    try {
      await expect(bus.subscribe("coze.private.x", () => {})).rejects.toBeInstanceOf(PermissionError);
      const ok = await bus.subscribe("coze.public.x", () => {});
      expect(ok.subject).toBe("coze.public.x");
    } finally {
      await bus.close();
    }
  });
});

describe("nkey", () => {
  const good = createNkeyUser();
  const other = createNkeyUser();
  let server: NatsServer;
  beforeAll(async () => {
    server = await startNatsServer({ auth: { users: [{ nkey: good.publicKey }] } });
  });
  afterAll(() => server?.stop());

  it("connects with NATS_NKEY_SEED holding the seed", () => roundTrip({ env: { NATS_SERVER_URL: server.url, NATS_NKEY_SEED: good.seed } }));
  it("connects with NATS_NKEY_SEED holding a path to the seed file", () => {
    const file = join(dir, "good.nk");
    writeFileSync(file, `${good.seed}\n`);
    return roundTrip({ env: { NATS_SERVER_URL: server.url, NATS_NKEY_SEED: file } });
  });
  it("an unknown key is refused without echoing the seed", () => refused({ env: { NATS_SERVER_URL: server.url, NATS_NKEY_SEED: other.seed } }, other.seed));
});

describe("JWT (operator mode, memory resolver) and creds files", () => {
  let server: NatsServer;
  let op: OperatorSetup;
  let foreign: OperatorSetup;
  beforeAll(async () => {
    op = await createOperatorSetup(["APP", "OTHER"]);
    foreign = await createOperatorSetup(["APP"]);
    server = await startNatsServer({ auth: { operator: op.config } });
  });
  afterAll(() => server?.stop());

  it("connects with NATS_JWT_TOKEN + NATS_NKEY_SEED", async () => {
    const u = await op.createUser("APP", "svc");
    await roundTrip({ env: { NATS_SERVER_URL: server.url, NATS_JWT_TOKEN: u.jwt, NATS_NKEY_SEED: u.seed } });
  });
  it("connects with NATS_CREDS_FILE", async () => {
    const u = await op.createUser("APP", "svc2");
    const file = join(dir, "svc2.creds");
    writeFileSync(file, u.creds);
    await roundTrip({ env: { NATS_SERVER_URL: server.url, NATS_CREDS_FILE: file } });
  });
  it("a JWT from an operator the server does not trust is an AuthError", async () => {
    const u = await foreign.createUser("APP", "intruder");
    await refused({ env: { NATS_SERVER_URL: server.url, NATS_JWT_TOKEN: u.jwt, NATS_NKEY_SEED: u.seed } }, u.seed);
  });
  it("a JWT signed with someone else's seed is an AuthError", async () => {
    const a = await op.createUser("APP", "a");
    const b = await op.createUser("APP", "b");
    await refused({ env: { NATS_SERVER_URL: server.url, NATS_JWT_TOKEN: a.jwt, NATS_NKEY_SEED: b.seed } });
  });
  it("accounts are isolated: an event in OTHER never reaches APP", async () => {
    const app = await openBus({ ...quiet, env: { NATS_SERVER_URL: server.url, NATS_CREDS_FILE: writeCreds("app", (await op.createUser("APP", "x")).creds) } });
    const other = await openBus({ ...quiet, env: { NATS_SERVER_URL: server.url, NATS_CREDS_FILE: writeCreds("other", (await op.createUser("OTHER", "y")).creds) } });
    try {
      const inApp: string[] = [];
      const inOther: string[] = [];
      await app.subscribe("coze.iso.>", (m) => void inApp.push(m.subject));
      await other.subscribe("coze.iso.>", (m) => void inOther.push(m.subject));
      other.publish("coze.iso.from-other", bytes("x"), { type: "t" });
      app.publish("coze.iso.from-app", bytes("x"), { type: "t" });
      await waitFor("both deliveries", () => inApp.length === 1 && inOther.length === 1);
      await app.nats.flush();
      await other.nats.flush();
      expect(inApp).toEqual(["coze.iso.from-app"]);
      expect(inOther).toEqual(["coze.iso.from-other"]);
    } finally {
      await app.close();
      await other.close();
    }
  });
  it("JWT permissions are enforced", async () => {
    const u = await op.createUser("APP", "limited", { subscribe: ["coze.allowed.>", "_INBOX.>"] });
    const bus = await openBus({ ...quiet, env: { NATS_SERVER_URL: server.url, NATS_JWT_TOKEN: u.jwt, NATS_NKEY_SEED: u.seed }, onError: () => {} });
    try {
      await expect(bus.subscribe("coze.denied.x", () => {})).rejects.toBeInstanceOf(PermissionError);
    } finally {
      await bus.close();
    }
  });
});

function writeCreds(name: string, creds: string): string {
  const file = join(dir, `${name}.creds`);
  writeFileSync(file, creds);
  return file;
}

describe("several accounts in a server config", () => {
  let server: NatsServer;
  let a: Bus | undefined;
  beforeAll(async () => {
    server = await startNatsServer({
      auth: { accounts: { A: { users: [{ user: "a", password: "pa" }] }, B: { users: [{ user: "b", password: "pb" }] } } },
    });
  });
  afterAll(async () => {
    await a?.close();
    await server?.stop();
  });
  it("each user lands in its own account", async () => {
    await roundTrip({ env: { NATS_SERVER_URL: server.url, NATS_USERNAME: "a", NATS_PASSWORD: "pa" } });
    await roundTrip({ env: { NATS_SERVER_URL: server.url, NATS_USERNAME: "b", NATS_PASSWORD: "pb" } });
    await refused({ env: { NATS_SERVER_URL: server.url, NATS_USERNAME: "a", NATS_PASSWORD: "pb" } }, "pb");
    a = await openBus({ ...quiet, env: { NATS_SERVER_URL: server.url, NATS_USERNAME: "a", NATS_PASSWORD: "pa" } });
    expect(a.server.jetstream).toBe(true);
  });
});
