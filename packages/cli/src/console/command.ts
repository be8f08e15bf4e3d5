import { parseArgs } from "node:util";
import { connectBus, connectPulsarCli, mqTypeOf, type GlobalFlags } from "../connect.js";
import { usageError } from "../errors.js";
import { SchemaSet } from "../schemas.js";
import { isLoopback } from "./auth.js";
import { NatsSource } from "./nats-source.js";
import { PulsarSource } from "./pulsar-source.js";
import { startConsole } from "./server.js";
import type { ConsoleSource } from "./source.js";

export const CONSOLE_USAGE = "console [--host H] [--port P] [--token T] [--schemas F]";

export const CONSOLE_ABOUT =
  "a web console on http://127.0.0.1:7464 (--port 0: any free port): the event catalogue, streams,\nconsumers per group with lag, dead letters decoded (filter, replay, delete, each confirmed) and a\nlive tail, on NATS or Pulsar (COZE_MQ_TYPE); --host other than loopback needs --token or COZEBUS_CONSOLE_TOKEN";

/** Parses its own arguments (main.ts hands it argv as is), the global ones included. */
export async function consoleMain(argv: readonly string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: [...argv],
    allowPositionals: true,
    strict: true,
    options: {
      host: { type: "string" },
      port: { type: "string" },
      token: { type: "string" },
      server: { type: "string" },
      "mq-type": { type: "string" },
      schemas: { type: "string" },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) {
    process.stdout.write(`usage: cozebus ${CONSOLE_USAGE} [--server URLS] [--mq-type nats|pulsar]\n\n  ${CONSOLE_ABOUT.split("\n").join("\n  ")}\n`);
    return 0;
  }
  const mq = values["mq-type"];
  if (mq !== undefined && mq !== "nats" && mq !== "pulsar") throw usageError(`--mq-type must be nats or pulsar, got ${JSON.stringify(mq)}`);
  return consoleCommand(positionals, {
    json: false,
    ...(values.server !== undefined ? { server: values.server } : {}),
    ...(mq !== undefined ? { mqType: mq } : {}),
    ...(values.host !== undefined ? { host: values.host } : {}),
    ...(values.port !== undefined ? { port: values.port } : {}),
    ...(values.token !== undefined ? { token: values.token } : {}),
    ...(values.schemas !== undefined ? { schemas: SchemaSet.load(values.schemas) } : {}),
  });
}

export interface ConsoleFlags extends GlobalFlags {
  readonly host?: string;
  readonly port?: string;
  readonly token?: string;
  readonly schemas?: SchemaSet;
}

/** Host, port and token as the command will use them; refuses a non-loopback address without a token. */
export function consoleSettings(flags: ConsoleFlags, env: NodeJS.ProcessEnv = process.env): { host: string; port: number; token: string | undefined } {
  const host = flags.host ?? "127.0.0.1";
  const portText = flags.port ?? "7464";
  if (!/^\d+$/.test(portText) || Number(portText) > 65535) throw usageError(`--port must be 0..65535 (0: any free port), got ${JSON.stringify(portText)}`);
  const token = flags.token ?? (env["COZEBUS_CONSOLE_TOKEN"] || undefined);
  if (token !== undefined && token.length < 16) throw usageError(`the console token (${flags.token !== undefined ? "--token" : "COZEBUS_CONSOLE_TOKEN"}) must be at least 16 characters; make one with: openssl rand -hex 16`);
  if (!isLoopback(host) && token === undefined) {
    throw usageError(`--host ${host} is reachable from other machines, and the console can replay and delete dead letters: give it a token with --token <secret> or COZEBUS_CONSOLE_TOKEN (openssl rand -hex 16 makes one), or leave --host out to bind 127.0.0.1`);
  }
  return { host, port: Number(portText), token };
}

/**
 * `cozebus console`: serves the web console until SIGINT or SIGTERM. The
 * address goes to stderr as "console at <url>" (scripts and tests wait for it).
 */
export async function consoleCommand(args: readonly string[], flags: ConsoleFlags): Promise<number> {
  if (args.length > 0) throw usageError(`usage: cozebus ${CONSOLE_USAGE}`);
  const settings = consoleSettings(flags);
  const source = await openSource(flags);
  let server;
  try {
    server = await startConsole({ source, schemas: flags.schemas, ...settings });
  } catch (err) {
    await source.close();
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "EADDRINUSE") throw usageError(`port ${settings.port} on ${settings.host} is in use; choose another with --port (0: any free port)`);
    throw err;
  }
  process.stderr.write(`console at ${server.url}${settings.token !== undefined ? " (token required: open it once with ?token=<token>)" : ""}; Ctrl-C to stop\n`);
  await new Promise<void>((resolve) => {
    process.once("SIGINT", resolve);
    process.once("SIGTERM", resolve);
  });
  await server.close();
  await source.close();
  return 0;
}

/** The broker the flags and COZE_MQ_TYPE choose, behind the console's seam. */
async function openSource(flags: ConsoleFlags): Promise<ConsoleSource> {
  if (mqTypeOf(flags) === "pulsar") return new PulsarSource(await connectPulsarCli(flags), flags.schemas);
  const bus = await connectBus(flags);
  try {
    return await NatsSource.open(bus, flags.schemas);
  } catch (err) {
    await bus.drain().catch(() => undefined);
    throw err;
  }
}
