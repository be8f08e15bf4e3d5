import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTlsFixtures, startNatsServer, type NatsServer, type TlsFixtures } from "@cozebus/testing";
import { ConnectError, TlsError, openBus, type BusOptions } from "../src/index.js";
import { bytes, memoryLogger, waitFor } from "./helpers.js";

let pki: TlsFixtures;
let tlsOnly: NatsServer;
let mutual: NatsServer;
let plain: NatsServer;

beforeAll(async () => {
  pki = createTlsFixtures();
  [tlsOnly, mutual, plain] = await Promise.all([
    startNatsServer({ tls: { certFile: pki.serverCertFile, keyFile: pki.serverKeyFile } }),
    startNatsServer({ tls: { certFile: pki.serverCertFile, keyFile: pki.serverKeyFile, caFile: pki.caFile, verify: true } }),
    startNatsServer(),
  ]);
});
afterAll(async () => {
  await Promise.all([tlsOnly?.stop(), mutual?.stop(), plain?.stop()]);
  pki?.remove();
});

async function works(options: BusOptions): Promise<void> {
  const bus = await openBus({ logger: memoryLogger(), ...options });
  try {
    let got = 0;
    await bus.subscribe("coze.tls.check", () => void got++);
    bus.publish("coze.tls.check", bytes("x"), { type: "t" });
    await waitFor("delivery over TLS", () => got === 1);
    expect(bus.describe()).toMatch(/tls=(on|mutual)/);
  } finally {
    await bus.close();
  }
}

async function failure(options: BusOptions): Promise<Error> {
  return openBus({ logger: memoryLogger(), connectTimeoutMs: 2000, ...options }).then(
    async (b) => {
      await b.close();
      throw new Error("connected although it should not");
    },
    (e: unknown) => e as Error,
  );
}

describe("TLS", () => {
  it("connects with tls:// and the CA from NATS_TLS_CA_FILE", () => works({ env: { NATS_SERVER_URL: tlsOnly.url, NATS_TLS_CA_FILE: pki.caFile } }));

  it("connects with a nats:// URL when TLS files are given (TLS upgrade)", () =>
    works({ env: { NATS_SERVER_URL: tlsOnly.url.replace("tls://", "nats://"), NATS_TLS_CA_FILE: pki.caFile } }));

  it("a CA that did not sign the server's certificate is a TlsError naming NATS_TLS_CA_FILE", async () => {
    const err = await failure({ env: { NATS_SERVER_URL: tlsOnly.url, NATS_TLS_CA_FILE: pki.otherCaFile } });
    expect(err).toBeInstanceOf(TlsError);
    expect(err.message).toContain(pki.otherCaFile);
    expect(err.message).toMatch(/NATS_TLS_CA_FILE/);
  });

  it("a plaintext client to a TLS-only server is a TlsError that says TLS is required", async () => {
    const err = await failure({ env: { NATS_SERVER_URL: tlsOnly.url.replace("tls://", "nats://") } });
    expect(err).toBeInstanceOf(TlsError);
    expect(err.message).toMatch(/requires TLS but none is configured/);
  });

  it("a TLS client to a plaintext server is a TlsError that says the server does not offer it", async () => {
    const err = await failure({ env: { NATS_SERVER_URL: plain.url.replace("nats://", "tls://"), NATS_TLS_CA_FILE: pki.caFile } });
    expect(err).toBeInstanceOf(TlsError);
    expect(err.message).toMatch(/does not offer it/);
  });
});

describe("mutual TLS", () => {
  it("connects with a client certificate", () =>
    works({
      env: {
        NATS_SERVER_URL: mutual.url,
        NATS_TLS_CA_FILE: pki.caFile,
        NATS_TLS_CERT_FILE: pki.clientCertFile,
        NATS_TLS_KEY_FILE: pki.clientKeyFile,
      },
    }));

  it("connects with the same files given as options", () =>
    works({ env: {}, servers: mutual.url, tls: { caFile: pki.caFile, certFile: pki.clientCertFile, keyFile: pki.clientKeyFile } }));

  it("without a client certificate the error points at NATS_TLS_CERT_FILE", async () => {
    const err = await failure({ env: { NATS_SERVER_URL: mutual.url, NATS_TLS_CA_FILE: pki.caFile } });
    expect(err).toBeInstanceOf(ConnectError);
    expect(err.message).toMatch(/NATS_TLS_CERT_FILE and NATS_TLS_KEY_FILE/);
  });
});
