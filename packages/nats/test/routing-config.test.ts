import { describe, expect, it } from "vitest";
import { ConfigError, describeConfig, natsConnectionOptions, resolveConfig, type BusOptions } from "../src/index.js";

/** NATS_INBOX_PREFIX, NATS_JS_DOMAIN and NATS_JS_API_PREFIX: validated like every other NATS_* variable. */

const resolve = (env: Record<string, string>, options: BusOptions = {}) => resolveConfig({ env, ...options });

function configError(run: () => unknown): ConfigError {
  let caught: unknown;
  try {
    run();
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(ConfigError);
  expect((caught as ConfigError).code).toBe("CONFIG_INVALID");
  return caught as ConfigError;
}

describe("good values", () => {
  it("nothing set: nats.js's own inbox prefix and the default JetStream API", () => {
    const c = resolve({});
    expect(c.inboxPrefix).toBeUndefined();
    expect(c.jetstreamApi).toEqual({ kind: "default" });
    expect(natsConnectionOptions(c).inboxPrefix).toBeUndefined();
    expect(describeConfig(c)).not.toMatch(/inbox=|js-/);
  });

  it.each<[string, Record<string, string>, (c: ReturnType<typeof resolveConfig>) => void]>([
    ["an inbox prefix of one token", { NATS_INBOX_PREFIX: "_INBOX_svc" }, (c) => expect(c.inboxPrefix).toBe("_INBOX_svc")],
    ["an inbox prefix of several tokens", { NATS_INBOX_PREFIX: "_I.svc-7.replies" }, (c) => expect(c.inboxPrefix).toBe("_I.svc-7.replies")],
    ["surrounding spaces are trimmed", { NATS_INBOX_PREFIX: "  _INBOX_svc " }, (c) => expect(c.inboxPrefix).toBe("_INBOX_svc")],
    ["an empty inbox prefix counts as unset (.env files)", { NATS_INBOX_PREFIX: "" }, (c) => expect(c.inboxPrefix).toBeUndefined()],
    ["a JetStream domain", { NATS_JS_DOMAIN: "hub" }, (c) => expect(c.jetstreamApi).toEqual({ kind: "domain", domain: "hub", from: "NATS_JS_DOMAIN" })],
    ["a domain with dashes and digits", { NATS_JS_DOMAIN: "eu-west-1" }, (c) => expect(c.jetstreamApi).toMatchObject({ domain: "eu-west-1" })],
    ["an API prefix", { NATS_JS_API_PREFIX: "JS.acme.API" }, (c) => expect(c.jetstreamApi).toEqual({ kind: "api-prefix", apiPrefix: "JS.acme.API", from: "NATS_JS_API_PREFIX" })],
    ["an API prefix with a trailing dot (as nats.js accepts it)", { NATS_JS_API_PREFIX: "$JS.hub.API." }, (c) => expect(c.jetstreamApi).toMatchObject({ apiPrefix: "$JS.hub.API" })],
    ["an empty domain next to an API prefix is unset, not a conflict", { NATS_JS_DOMAIN: "", NATS_JS_API_PREFIX: "JS.x.API" }, (c) => expect(c.jetstreamApi.kind).toBe("api-prefix")],
  ])("%s", (_label, env, check) => {
    check(resolve(env));
  });

  it("the inbox prefix reaches the nats.js connection options", () => {
    expect(natsConnectionOptions(resolve({ NATS_INBOX_PREFIX: "_INBOX_svc" })).inboxPrefix).toBe("_INBOX_svc");
  });

  it("the summary shows the inbox prefix and the domain or API prefix in use", () => {
    expect(describeConfig(resolve({ NATS_INBOX_PREFIX: "_INBOX_svc", NATS_JS_DOMAIN: "hub" }))).toMatch(/ inbox=_INBOX_svc js-domain=hub /);
    expect(describeConfig(resolve({ NATS_JS_API_PREFIX: "JS.acme.API" }))).toMatch(/ js-api=JS\.acme\.API /);
  });
});

describe("bad values: a ConfigError naming the variable", () => {
  it.each<[string, Record<string, string>, string, RegExp]>([
    ["an inbox prefix with *", { NATS_INBOX_PREFIX: "_INBOX.*" }, "NATS_INBOX_PREFIX", /"_INBOX\.\*" contains a wildcard/],
    ["an inbox prefix with >", { NATS_INBOX_PREFIX: "_INBOX_svc.>" }, "NATS_INBOX_PREFIX", /contains a wildcard; an inbox prefix must be a literal subject prefix/],
    ["an inbox prefix with a wildcard inside a token", { NATS_INBOX_PREFIX: "_INBOX_a*b" }, "NATS_INBOX_PREFIX", /contains a wildcard/],
    ["an inbox prefix ending in a dot", { NATS_INBOX_PREFIX: "_INBOX_svc." }, "NATS_INBOX_PREFIX", /not a valid subject prefix: an inbox prefix is dot-separated, non-empty tokens/],
    ["an inbox prefix with an empty token", { NATS_INBOX_PREFIX: "_I..svc" }, "NATS_INBOX_PREFIX", /not a valid subject prefix/],
    ["an inbox prefix with a space", { NATS_INBOX_PREFIX: "_INBOX svc" }, "NATS_INBOX_PREFIX", /without spaces/],
    ["an inbox prefix with non-ASCII", { NATS_INBOX_PREFIX: "_INBOX_ü" }, "NATS_INBOX_PREFIX", /printable ASCII/],
    ["an inbox prefix under the subject prefix", { NATS_INBOX_PREFIX: "coze.replies" }, "NATS_INBOX_PREFIX", /lies under the subject prefix "coze", where streams would store replies/],
    ["an inbox prefix equal to a tenant's subject prefix", { NATS_SUBJECT_PREFIX: "t1.coze", NATS_INBOX_PREFIX: "t1.coze" }, "NATS_INBOX_PREFIX", /lies under the subject prefix "t1\.coze"/],
    ["a domain with a dot", { NATS_JS_DOMAIN: "hub.eu" }, "NATS_JS_DOMAIN", /"hub\.eu" is not a JetStream domain: one token/],
    ["a domain with a wildcard", { NATS_JS_DOMAIN: "hub*" }, "NATS_JS_DOMAIN", /not a JetStream domain/],
    ["a domain that is >", { NATS_JS_DOMAIN: ">" }, "NATS_JS_DOMAIN", /not a JetStream domain/],
    ["a domain with a space", { NATS_JS_DOMAIN: "my hub" }, "NATS_JS_DOMAIN", /not a JetStream domain/],
    ["an API prefix with a wildcard", { NATS_JS_API_PREFIX: "$JS.*.API" }, "NATS_JS_API_PREFIX", /contains a wildcard; a JetStream API prefix must be a literal/],
    ["an API prefix with an empty token", { NATS_JS_API_PREFIX: "$JS..API" }, "NATS_JS_API_PREFIX", /not a valid subject prefix/],
    ["an API prefix that is only a dot", { NATS_JS_API_PREFIX: "." }, "NATS_JS_API_PREFIX", /not a valid subject prefix/],
    ["a domain and an API prefix at once", { NATS_JS_DOMAIN: "hub", NATS_JS_API_PREFIX: "$JS.hub.API" }, "NATS_JS_DOMAIN", /set together with NATS_JS_API_PREFIX.*set only one/],
  ])("%s", (_label, env, variable, message) => {
    const e = configError(() => resolve(env));
    expect(e.variable).toBe(variable);
    expect(e.message).toMatch(message);
    expect(e.message.startsWith(`${variable}: `)).toBe(true);
  });
});

describe("programmatic options", () => {
  it("win over the environment, even over a bad variable", () => {
    const c = resolve(
      { NATS_INBOX_PREFIX: "bad.*", NATS_JS_DOMAIN: "bad.domain", NATS_JS_API_PREFIX: "$JS.*.API" },
      { inboxPrefix: "_INBOX_opt", jetstreamDomain: "hub" },
    );
    expect(c.inboxPrefix).toBe("_INBOX_opt");
    expect(c.jetstreamApi).toEqual({ kind: "domain", domain: "hub", from: "options.jetstreamDomain" });
  });

  it("an API prefix option replaces a domain from the environment (they are one setting)", () => {
    expect(resolve({ NATS_JS_DOMAIN: "hub" }, { jetstreamApiPrefix: "JS.acme.API" }).jetstreamApi).toEqual({
      kind: "api-prefix",
      apiPrefix: "JS.acme.API",
      from: "options.jetstreamApiPrefix",
    });
  });

  it.each<[string, BusOptions, string, RegExp]>([
    ["an inbox prefix with a wildcard", { inboxPrefix: "_INBOX.>" }, "options.inboxPrefix", /wildcard/],
    ["an empty inbox prefix", { inboxPrefix: "" }, "options.inboxPrefix", /not a valid subject prefix/],
    ["an inbox prefix under the subject prefix option", { subjectPrefix: "acme", inboxPrefix: "acme.inbox" }, "options.inboxPrefix", /under the subject prefix "acme"/],
    ["a domain with a dot", { jetstreamDomain: "a.b" }, "options.jetstreamDomain", /not a JetStream domain/],
    ["an empty domain", { jetstreamDomain: "" }, "options.jetstreamDomain", /not a JetStream domain/],
    ["an API prefix with a wildcard", { jetstreamApiPrefix: "JS.>" }, "options.jetstreamApiPrefix", /wildcard/],
    ["a domain and an API prefix at once", { jetstreamDomain: "hub", jetstreamApiPrefix: "$JS.hub.API" }, "options.jetstreamDomain", /set together with options\.jetstreamApiPrefix/],
  ])("rejects %s", (_label, options, variable, message) => {
    const e = configError(() => resolve({}, options));
    expect(e.variable).toBe(variable);
    expect(e.message).toMatch(message);
  });
});
