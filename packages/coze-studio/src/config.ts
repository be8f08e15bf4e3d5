/**
 * Reading a Coze deployment's environment the way Coze's Go code reads it,
 * so a cozebus service joins the same servers in the same mode:
 *
 * - the address is MQ_NAME_SERVER (backend/infra/eventbus/impl/eventbus.go
 *   passes os.Getenv(MQ_NAME_SERVER) to every producer and consumer; Go never
 *   reads NATS_SERVER_URL);
 * - JetStream is on only when NATS_USE_JETSTREAM is exactly `true`
 *   (impl/nats/producer.go NewProducer, consumer.go RegisterConsumer:
 *   `os.Getenv(...) == "true"`). cozebus's generic parser would also take
 *   `1`, `yes`, `TRUE`: here any value Go would read differently is refused,
 *   so the two sides can never run in different modes.
 */
import { ConfigError, type BusOptions } from "@cozebus/nats";

export type CozeMode = "core" | "jetstream";

/** The message queue a Coze deployment runs on, as far as cozebus can join it. */
export type CozeMqType = "nats" | "pulsar";

/**
 * COZE_MQ_TYPE read the way Coze's Go code reads it (impl/eventbus.go
 * NewProducer / RegisterConsumer: an exact `switch` on "nsq", "kafka",
 * "rmq", "pulsar", "nats"). Unset means NATS here (the NATS half's
 * default); a value Go runs on but cozebus cannot join (nsq, kafka, rmq),
 * or one Go refuses (e.g. `Pulsar`), is a ConfigError.
 */
export function mqTypeFromEnv(env: Env = process.env): CozeMqType {
  const raw = env["COZE_MQ_TYPE"];
  if (raw === undefined || raw === "" || raw === "nats") return "nats";
  if (raw === "pulsar") return "pulsar";
  const why = ["nsq", "kafka", "rmq"].includes(raw)
    ? "Coze's Go code runs on it, but @cozebus/coze-studio joins only NATS and Pulsar deployments"
    : 'Coze\'s Go code refuses it (exactly "nats" or "pulsar", lower case, for the buses cozebus can join)';
  throw new ConfigError("COZE_MQ_TYPE", `is ${JSON.stringify(raw)}: ${why}`);
}

export type Env = Readonly<Record<string, string | undefined>>;

/** The mode Coze's Go code runs in for this environment; throws ConfigError (NATS_USE_JETSTREAM) for a value Go would read as core but a person likely meant as true. */
export function modeFromEnv(env: Env = process.env): CozeMode {
  const raw = env["NATS_USE_JETSTREAM"];
  if (raw === "true") return "jetstream";
  if (raw === undefined || raw === "" || raw === "false") return "core";
  throw new ConfigError(
    "NATS_USE_JETSTREAM",
    `is ${JSON.stringify(raw)}: Coze Studio's Go code turns JetStream on only for the exact string "true" and runs core NATS for anything else; set "true" or "false" so both sides agree`,
  );
}

/**
 * Bus options for joining a Coze deployment: the servers Coze's Go code
 * connects to (MQ_NAME_SERVER; NATS_SERVER_URL only when MQ_NAME_SERVER is
 * unset) and the mode it runs in. Credentials, TLS and the rest come from
 * the environment as @cozebus/nats reads it. `overrides` win.
 */
export function cozeStudioBusOptions(overrides: BusOptions = {}): BusOptions {
  const env = overrides.env ?? process.env;
  const mqType = env["COZE_MQ_TYPE"];
  if (mqType === "pulsar") {
    throw new ConfigError("COZE_MQ_TYPE", 'is "pulsar": this deployment\'s bus is Pulsar, not NATS; join it with cozeStudioPulsar() (or openCozeStudio(), which picks by COZE_MQ_TYPE)');
  }
  if (mqType !== undefined && mqType !== "" && mqType !== "nats") {
    throw new ConfigError("COZE_MQ_TYPE", `is ${JSON.stringify(mqType)}: this deployment's Go code does not use NATS ("nats", exactly, selects it), so there is no NATS bus to join`);
  }
  const nameServer = env["MQ_NAME_SERVER"]?.trim();
  return {
    ...overrides,
    // Without NATS_SERVER_URL, @cozebus/nats falls back to MQ_NAME_SERVER and names it in any error about the address.
    env: nameServer ? { ...env, NATS_SERVER_URL: undefined } : env,
    useJetStream: overrides.useJetStream ?? modeFromEnv(env) === "jetstream",
  };
}
