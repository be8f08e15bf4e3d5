import { afterEach, describe, expect, it } from "vitest";
import { startNatsServer } from "@cozebus/testing";
import { openBus } from "../src/index.js";
import { AckSubjectError, parseAckSubject, type JsDelivery } from "../src/jetstream/js-message.js";
import { PullLoop } from "../src/jetstream/pull-loop.js";
import { bytes, memoryLogger, provisionRaw, waitFor } from "./helpers.js";

const cleanup: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c().catch(() => undefined);
});

describe("parseAckSubject: both forms of a JetStream ack subject", () => {
  it("the original form: $JS.ACK.<stream>.<consumer>.<delivered>.<stream seq>.<consumer seq>.<timestamp>.<pending>", () => {
    expect(parseAckSubject("$JS.ACK.COZE_WORKFLOW.runner.3.1042.77.1717171717171717171.5")).toEqual({
      stream: "COZE_WORKFLOW",
      consumer: "runner",
      deliveryCount: 3,
      streamSequence: 1042,
      consumerSequence: 77,
      pending: 5,
      domain: undefined,
    });
  });

  it("the newer form with a domain and an account hash, and a random token at the end", () => {
    expect(parseAckSubject("$JS.ACK.hub.ACCHASH123.COZE_AGENT.g_1a2b3c4d.1.9.9.1717171717171717171.0.k8Jd2l")).toEqual({
      stream: "COZE_AGENT",
      consumer: "g_1a2b3c4d",
      deliveryCount: 1,
      streamSequence: 9,
      consumerSequence: 9,
      pending: 0,
      domain: "hub",
    });
  });

  it("the newer form with domain `_` (none)", () => {
    expect(parseAckSubject("$JS.ACK._.ACCHASH.S.c.2.10.4.1717171717171717171.12.rnd").domain).toBeUndefined();
  });

  it("the newer form without the random token (11 tokens) and with tokens added after it", () => {
    expect(parseAckSubject("$JS.ACK._.H.S.c.2.10.4.1717171717171717171.12")).toMatchObject({ stream: "S", streamSequence: 10, pending: 12 });
    expect(parseAckSubject("$JS.ACK.d.H.S.c.2.10.4.1717171717171717171.12.rnd.future.tokens")).toMatchObject({ stream: "S", consumer: "c", deliveryCount: 2, domain: "d" });
  });

  it.each<[string, string | undefined, RegExp]>([
    ["no reply subject", undefined, /does not start with \$JS\.ACK/],
    ["an inbox", "_INBOX.abc.def", /does not start with \$JS\.ACK/],
    ["another $JS subject", "$JS.API.CONSUMER.MSG.NEXT.S.c.1.2.3", /does not start with \$JS\.ACK/],
    ["10 tokens (neither form)", "$JS.ACK.S.c.1.2.3.4.5.6", /has 10 tokens; expected 9 .* or at least 11/],
    ["too short", "$JS.ACK.S.c.1", /has 5 tokens/],
    ["a counter that is not a number", "$JS.ACK.S.c.x.2.3.4.5", /not where either form puts them/],
    ["a negative sequence", "$JS.ACK.S.c.1.-2.3.4.5", /not where either form puts them/],
    ["an empty stream name", "$JS.ACK..c.1.2.3.4.5", /not where either form puts them/],
    ["the newer form shifted by a missing account hash", "$JS.ACK.hub.S.c.1.2.3.4.5.rnd", /not where either form puts them/],
  ])("refuses %s", (_label, subject, message) => {
    expect(() => parseAckSubject(subject)).toThrow(AckSubjectError);
    expect(() => parseAckSubject(subject)).toThrow(message);
  });
});

/**
 * Which form real servers send, checked on real deliveries against what is
 * known about them (stream, consumer, sequences, redelivery). Both Debian's 2.9.10 and 2.12.15 send the original 9-token
 * form (also inside a JetStream domain, see jetstream-domain.test.ts); the
 * newer form exists in the protocol (ADR-15) for servers to adopt.
 */
const FORM_SENT_BY: Readonly<Record<string, number>> = { "2.9.10": 9, "2.12.15": 9 };

describe("a real delivery", () => {
  it("parses to where it came from, and has the form this server version is known to send", async () => {
    const server = await startNatsServer();
    cleanup.push(() => server.stop());
    const bus = await openBus({ servers: server.url, env: {}, logger: memoryLogger() });
    cleanup.push(() => bus.close());
    const js = await bus.jetstream();
    await provisionRaw(js, "workflow");
    const seqs: number[] = [];
    for (const id of ["a", "b", "c"]) seqs.push((await js.publish(`coze.workflow.${id}.started`, bytes(id), { type: "t" })).seq);
    await js.jsm.consumers.add("COZE_WORKFLOW", { durable_name: "probe", ack_policy: "explicit", ack_wait: 10_000_000_000 });

    // The pull loop the durable consumer uses; the second event is nak'd once so one delivery counts 2.
    const seen: JsDelivery[] = [];
    const loop = new PullLoop(bus.nats, {
      stream: "COZE_WORKFLOW",
      consumer: "probe",
      batch: 10,
      expiresMs: 2000,
      onStatus: () => undefined,
      onMessage: (d) => {
        seen.push(d);
        if (d.info.streamSequence === seqs[1] && d.info.deliveryCount === 1) d.nak();
        else d.ack();
      },
    });
    loop.start();
    cleanup.push(() => loop.stop());
    await waitFor("four deliveries", () => seen.length === 4);

    const info = seen.map((d) => d.info);
    // Where the nak'd event comes back among the others depends on the server.
    expect(info.map((i) => i.streamSequence).sort()).toEqual([seqs[0], seqs[1], seqs[1], seqs[2]]);
    expect(info.filter((i) => i.deliveryCount === 2).map((i) => i.streamSequence)).toEqual([seqs[1]]);
    for (const i of info) expect(i).toMatchObject({ stream: "COZE_WORKFLOW", consumer: "probe", domain: undefined });
    expect(info.map((i) => i.consumerSequence)).toEqual([1, 2, 3, 4]); // every delivery, redeliveries included
    expect(info[0]!.pending).toBe(2); // two more events waiting behind the first
    expect(info.at(-1)!.pending).toBe(0);

    const reply = seen[0]!.msg.reply ?? "";
    const version = bus.server.version;
    const tokens = reply.split(".").length;
    if (FORM_SENT_BY[version] !== undefined) expect(tokens, `nats-server ${version} sent ${reply}`).toBe(FORM_SENT_BY[version]);
    else expect([9, 11, 12], `nats-server ${version} sent ${reply}`).toContain(tokens);
  });
});
