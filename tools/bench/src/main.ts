/**
 * `npm run bench`: cozebus against raw nats.js, same process, same server,
 * alternating rounds. Prints one JSON object per line. Bounded: a fixed
 * number of messages per round, a local throwaway server unless
 * NATS_SERVER_URL points elsewhere (loopback only, by policy).
 */
import { startNatsServer } from "@cozebus/testing";
import { benchConsume, benchPublish, benchPublishBurst } from "./jetstream.js";

const arg = (name: string, fallback: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  const v = i > 0 ? Number(process.argv[i + 1]) : fallback;
  if (!Number.isInteger(v) || v < 1) throw new Error(`--${name} needs a positive integer`);
  return v;
};

const n = arg("messages", 20_000);
const rounds = arg("rounds", 5);
const configured = process.env["NATS_SERVER_URL"];
const server = configured ? undefined : await startNatsServer();
const url = configured ?? server!.url;
try {
  console.log(JSON.stringify(await benchPublish(url, n, rounds)));
  console.log(JSON.stringify(await benchPublishBurst(url, n, rounds)));
  console.log(JSON.stringify(await benchConsume(url, n, rounds)));
} finally {
  await server?.stop();
}
