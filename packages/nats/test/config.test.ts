import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { createNkeyUser, createOperatorSetup } from "@cozebus/testing";
import { ConfigError, resolveConfig, describeConfig } from "../src/index.js";

const dir = mkdtempSync(join(tmpdir(), "cozebus-config-test-"));
const user = createNkeyUser();
const seedFile = join(dir, "user.nk");
writeFileSync(seedFile, user.seed + "\n");
const unreadable = join(dir, "locked.nk");
writeFileSync(unreadable, user.seed);
chmodSync(unreadable, 0o000);
const isRoot = process.getuid?.() === 0;
const op = await createOperatorSetup(["APP"]);
const jwtUser = await op.createUser("APP", "svc");
const credsFile = join(dir, "svc.creds");
writeFileSync(credsFile, jwtUser.creds);
const certFile = join(dir, "cert.pem");
writeFileSync(certFile, "not checked until the handshake");

afterAll(() => {
  chmodSync(unreadable, 0o600);
  rmSync(dir, { recursive: true, force: true });
});

const resolve = (env: Record<string, string>) => resolveConfig({ env });

describe("good environment values", () => {
  it.each<[string, Record<string, string>, (c: ReturnType<typeof resolveConfig>) => void]>([
    ["nothing set: local defaults", {}, (c) => {
      expect(c.servers).toEqual(["nats://127.0.0.1:4222"]);
      expect(c.auth.method).toBe("none");
      expect(c.streamReplicas).toBe(1);
      expect(c.useJetStream).toBeUndefined();
      expect(c.subjectPrefix).toBe("coze");
      expect(c.tls).toBeUndefined();
    }],
    ["empty strings count as unset (.env files)", { NATS_SERVER_URL: "", NATS_TOKEN: "", NATS_STREAM_REPLICAS: "" }, (c) => {
      expect(c.servers).toEqual(["nats://127.0.0.1:4222"]);
      expect(c.auth.method).toBe("none");
    }],
    ["COZE_MQ_TYPE=nats (any case)", { COZE_MQ_TYPE: "NATS" }, (c) => expect(c.auth.method).toBe("none")],
    ["a cluster list with spaces and default ports", { NATS_SERVER_URL: "nats://n1:4222, nats://n2 ,nats://n3:5222" }, (c) =>
      expect(c.servers).toEqual(["nats://n1:4222", "nats://n2:4222", "nats://n3:5222"])],
    ["tls:// turns TLS on with system CAs", { NATS_SERVER_URL: "tls://nats.example:4443" }, (c) => {
      expect(c.servers).toEqual(["tls://nats.example:4443"]);
      expect(c.tls).toEqual({});
    }],
    ["MQ_NAME_SERVER fallback, bare host:port", { MQ_NAME_SERVER: "nats:4222" }, (c) => expect(c.servers).toEqual(["nats://nats:4222"])],
    ["NATS_SERVER_URL wins over MQ_NAME_SERVER", { MQ_NAME_SERVER: "a:1", NATS_SERVER_URL: "nats://b:2" }, (c) => expect(c.servers).toEqual(["nats://b:2"])],
    ["token", { NATS_TOKEN: "t0k" }, (c) => expect(c.auth.method).toBe("token")],
    ["user/password", { NATS_USERNAME: "u", NATS_PASSWORD: "p" }, (c) => expect(c.auth.method).toBe("user-password")],
    ["nkey seed literal", { NATS_NKEY_SEED: user.seed }, (c) => expect(c.auth.method).toBe("nkey")],
    ["nkey seed file", { NATS_NKEY_SEED: seedFile }, (c) => expect(c.auth.method).toBe("nkey")],
    ["JWT + seed", { NATS_JWT_TOKEN: jwtUser.jwt, NATS_NKEY_SEED: jwtUser.seed }, (c) => expect(c.auth.method).toBe("jwt")],
    ["creds file", { NATS_CREDS_FILE: credsFile }, (c) => expect(c.auth.method).toBe("creds")],
    ["replicas 3", { NATS_STREAM_REPLICAS: "3" }, (c) => expect(c.streamReplicas).toBe(3)],
    ["replicas 5 (the maximum)", { NATS_STREAM_REPLICAS: "5" }, (c) => expect(c.streamReplicas).toBe(5)],
    ["NATS_USE_JETSTREAM=true", { NATS_USE_JETSTREAM: "true" }, (c) => expect(c.useJetStream).toBe(true)],
    ["NATS_USE_JETSTREAM=0", { NATS_USE_JETSTREAM: "0" }, (c) => expect(c.useJetStream).toBe(false)],
    ["NATS_USE_JETSTREAM=FALSE", { NATS_USE_JETSTREAM: "FALSE" }, (c) => expect(c.useJetStream).toBe(false)],
    ["a tenant prefix", { NATS_SUBJECT_PREFIX: "tenant-7.coze" }, (c) => expect(c.subjectPrefix).toBe("tenant-7.coze")],
    ["a client certificate pair", { NATS_TLS_CERT_FILE: certFile, NATS_TLS_KEY_FILE: certFile, NATS_TLS_CA_FILE: certFile }, (c) =>
      expect(c.tls).toEqual({ caFile: certFile, certFile, keyFile: certFile })],
  ])("%s", (_label, env, check) => {
    check(resolve(env));
  });
});

describe("bad environment values: a ConfigError naming the variable", () => {
  it.each<[string, Record<string, string>, string, RegExp]>([
    ["replicas not a number", { NATS_STREAM_REPLICAS: "abc" }, "NATS_STREAM_REPLICAS", /integer from 1 to 5.*"abc"/],
    ["replicas 0", { NATS_STREAM_REPLICAS: "0" }, "NATS_STREAM_REPLICAS", /integer from 1 to 5/],
    ["replicas 9", { NATS_STREAM_REPLICAS: "9" }, "NATS_STREAM_REPLICAS", /integer from 1 to 5.*"9"/],
    ["replicas 1.5", { NATS_STREAM_REPLICAS: "1.5" }, "NATS_STREAM_REPLICAS", /integer/],
    ["replicas -1", { NATS_STREAM_REPLICAS: "-1" }, "NATS_STREAM_REPLICAS", /integer/],
    ["NATS_USE_JETSTREAM=maybe", { NATS_USE_JETSTREAM: "maybe" }, "NATS_USE_JETSTREAM", /true or false.*"maybe"/],
    ["COZE_MQ_TYPE=kafka", { COZE_MQ_TYPE: "kafka" }, "COZE_MQ_TYPE", /"kafka".*only speaks NATS/],
    ["an http URL", { NATS_SERVER_URL: "http://n1:4222" }, "NATS_SERVER_URL", /nats:\/\/ or tls:\/\//],
    ["a websocket URL", { NATS_SERVER_URL: "ws://n1:80" }, "NATS_SERVER_URL", /not supported/],
    ["a stray comma", { NATS_SERVER_URL: "nats://a:1,,nats://b:2" }, "NATS_SERVER_URL", /entry 2 is empty/],
    ["a bad port", { NATS_SERVER_URL: "nats://a:99999" }, "NATS_SERVER_URL", /not a valid URL/],
    ["a path", { NATS_SERVER_URL: "nats://a:1/x" }, "NATS_SERVER_URL", /path or query/],
    ["mixed schemes", { NATS_SERVER_URL: "nats://a:1,tls://b:2" }, "NATS_SERVER_URL", /mixes/],
    ["MQ_NAME_SERVER bad", { MQ_NAME_SERVER: "kafka://x:1" }, "MQ_NAME_SERVER", /not supported/],
    ["password without user", { NATS_PASSWORD: "hunter2" }, "NATS_USERNAME", /NATS_PASSWORD is/],
    ["user without password", { NATS_USERNAME: "u" }, "NATS_PASSWORD", /NATS_USERNAME is/],
    ["token and user/password at once", { NATS_TOKEN: "t", NATS_USERNAME: "u", NATS_PASSWORD: "p" }, "NATS_*", /token.*and user\/password/],
    ["token and nkey at once", { NATS_TOKEN: "t", NATS_NKEY_SEED: user.seed }, "NATS_*", /set exactly one/],
    ["nkey and creds at once", { NATS_NKEY_SEED: user.seed, NATS_CREDS_FILE: credsFile }, "NATS_*", /set exactly one/],
    ["JWT without seed", { NATS_JWT_TOKEN: jwtUser.jwt }, "NATS_NKEY_SEED", /needs the user's seed/],
    ["JWT that is not one", { NATS_JWT_TOKEN: "not-a-jwt", NATS_NKEY_SEED: user.seed }, "NATS_JWT_TOKEN", /not a JWT/],
    ["seed file missing", { NATS_NKEY_SEED: join(dir, "missing.nk") }, "NATS_NKEY_SEED", /cannot read seed file .*missing\.nk.*ENOENT/],
    ["seed file holds no seed", { NATS_NKEY_SEED: certFile }, "NATS_NKEY_SEED", /holds no nkey seed/],
    // One character changed in the middle (the last one can fall in padding bits and decode the same).
    ["seed with a typo", { NATS_NKEY_SEED: user.seed.slice(0, 20) + (user.seed[20] === "A" ? "B" : "A") + user.seed.slice(21) }, "NATS_NKEY_SEED", /checksum/],
    ["a mangled seed that is not a path", { NATS_NKEY_SEED: "SUSHORT" }, "NATS_NKEY_SEED", /neither an nkey user seed .* nor a file path; value not shown/],
    ["an account seed", { NATS_NKEY_SEED: "SA" + user.seed.slice(2) }, "NATS_NKEY_SEED", /account seed/],
    ["creds file missing", { NATS_CREDS_FILE: join(dir, "none.creds") }, "NATS_CREDS_FILE", /cannot read creds file/],
    ["creds file that is not one", { NATS_CREDS_FILE: seedFile }, "NATS_CREDS_FILE", /not a \.creds file/],
    ["cert without key", { NATS_TLS_CERT_FILE: certFile }, "NATS_TLS_KEY_FILE", /needs both/],
    ["key without cert", { NATS_TLS_KEY_FILE: certFile }, "NATS_TLS_CERT_FILE", /needs both/],
    ["CA file missing", { NATS_TLS_CA_FILE: join(dir, "ca-missing.pem") }, "NATS_TLS_CA_FILE", /cannot read CA file.*ENOENT/],
    ["a prefix with a wildcard", { NATS_SUBJECT_PREFIX: "coze.*" }, "NATS_SUBJECT_PREFIX", /not a valid subject prefix/],
    ["a prefix with a space", { NATS_SUBJECT_PREFIX: "my coze" }, "NATS_SUBJECT_PREFIX", /not a valid subject prefix/],
  ])("%s", (_label, env, variable, message) => {
    let caught: unknown;
    try {
      resolve(env);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(ConfigError);
    expect((caught as ConfigError).variable).toBe(variable);
    expect((caught as ConfigError).message).toMatch(message);
    expect((caught as ConfigError).code).toBe("CONFIG_INVALID");
  });

  it("a seed path that cannot be read as a file (a folder)", () => {
    expect(() => resolve({ NATS_NKEY_SEED: dir })).toThrow(/NATS_NKEY_SEED: cannot read seed file .*EISDIR/);
  });

  it.skipIf(isRoot)("an unreadable seed file (not as root, who reads anything)", () => {
    expect(() => resolve({ NATS_NKEY_SEED: unreadable })).toThrow(/NATS_NKEY_SEED: cannot read seed file .*EACCES/);
  });
});

describe("secrets never appear in errors or summaries", () => {
  const secrets = { token: "tok-SECRET-1", password: "pw-SECRET-2" };
  it.each<[string, Record<string, string>]>([
    ["token + password conflict", { NATS_TOKEN: secrets.token, NATS_USERNAME: "u", NATS_PASSWORD: secrets.password }],
    ["password without user", { NATS_PASSWORD: secrets.password }],
    ["a seed typo", { NATS_NKEY_SEED: user.seed.slice(0, 57) + "9" }],
    ["a near-seed", { NATS_NKEY_SEED: user.seed.slice(0, 40) }],
    ["a JWT without a seed", { NATS_JWT_TOKEN: jwtUser.jwt }],
    ["credentials in the URL", { NATS_SERVER_URL: `nats://u:${secrets.password}@h:4222` }],
  ])("%s", (_label, env) => {
    let message = "";
    try {
      resolve(env);
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).not.toBe("");
    for (const value of Object.values(env)) {
      if (value === "u") continue;
      expect(message).not.toContain(value);
    }
    expect(message).not.toContain(user.seed.slice(0, 40));
  });

  it("the loggable summary names the method and where it came from, never the value", () => {
    const s = describeConfig(resolve({ NATS_USERNAME: "svc", NATS_PASSWORD: secrets.password }));
    expect(s).toContain("auth=user-password (NATS_USERNAME/NATS_PASSWORD)");
    expect(s).not.toContain(secrets.password);
    expect(describeConfig(resolve({ NATS_NKEY_SEED: user.seed }))).not.toContain(user.seed);
  });
});

describe("programmatic options win over the environment", () => {
  it("servers, auth, replicas, JetStream switch and prefix", () => {
    const c = resolveConfig({
      env: { NATS_SERVER_URL: "nats://env:1", NATS_TOKEN: "env-token", NATS_STREAM_REPLICAS: "abc", NATS_USE_JETSTREAM: "maybe" },
      servers: ["nats://opt:2"],
      auth: { method: "user-password", user: "u", password: "p" },
      streamReplicas: 3,
      useJetStream: true,
      subjectPrefix: "t1",
    });
    expect(c.servers).toEqual(["nats://opt:2"]);
    expect(c.auth.method).toBe("user-password");
    expect(c.streamReplicas).toBe(3);
    expect(c.useJetStream).toBe(true);
    expect(c.subjectPrefix).toBe("t1");
  });

  it.each<[string, Parameters<typeof resolveConfig>[0], string]>([
    ["replicas 0", { streamReplicas: 0 }, "options.streamReplicas"],
    ["an empty token", { auth: { method: "token", token: " " } }, "options.auth.token"],
    ["a bad seed file", { auth: { method: "nkey", seed: "/nope/x.nk" } }, "options.auth.seed"],
    ["tls false with tls:// servers", { servers: "tls://a:1", tls: false }, "options.tls"],
    ["negative reconnect wait", { reconnect: { waitMs: -5 } }, "options.reconnect.waitMs"],
    ["an unknown auth method", { auth: { method: "kerberos" } as never }, "options.auth.method"],
  ])("rejects %s", (_label, options, variable) => {
    expect(() => resolveConfig({ env: {}, ...options })).toThrow(expect.objectContaining({ variable }));
  });
});
