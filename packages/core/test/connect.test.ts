import { describe, expect, it } from "vitest";
import { ConfigError, isCozebusError } from "../src/errors.js";
import { transportName } from "../src/connect.js";

describe("COZE_MQ_TYPE picks the transport", () => {
  it("unset or empty means nats, as in the seed's factory; case and spaces do not matter", () => {
    expect(transportName({ env: {} })).toBe("nats");
    expect(transportName({ env: { COZE_MQ_TYPE: "" } })).toBe("nats");
    expect(transportName({ env: { COZE_MQ_TYPE: " Pulsar " } })).toBe("pulsar");
    expect(transportName({ env: { COZE_MQ_TYPE: "nats" } })).toBe("nats");
  });

  it("the option wins over the variable", () => {
    expect(transportName({ type: "pulsar", env: { COZE_MQ_TYPE: "nats" } })).toBe("pulsar");
  });

  it("an unknown value is a ConfigError naming the variable and what it may be", () => {
    const err: unknown = (() => {
      try {
        return transportName({ env: { COZE_MQ_TYPE: "kafka" } });
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(ConfigError);
    expect(isCozebusError(err, "CONFIG_INVALID")).toBe(true);
    expect((err as ConfigError).variable).toBe("COZE_MQ_TYPE");
    expect((err as Error).message).toBe('COZE_MQ_TYPE: is "kafka"; cozebus speaks "nats" and "pulsar" (unset means "nats")');
  });
});
