import { OperationClient } from "@cozebus/nats";
import { findOperation } from "../catalog.js";
import { connectBus, type GlobalFlags } from "../connect.js";
import { usageError } from "../errors.js";
import { readEventJson } from "../json-input.js";

/** `cozebus request <operation> <json> [--timeout ms]`: prints the typed reply as proto3 JSON. */
export async function requestCommand(args: readonly string[], flags: GlobalFlags & { readonly timeout?: number }): Promise<number> {
  const [ref, json] = args;
  if (ref === undefined || json === undefined) throw usageError("usage: cozebus request <operation> <json> [--timeout ms]");
  const entry = findOperation(ref);
  if (entry === undefined) throw usageError(`unknown operation "${ref}"; list them with "cozebus events"`);
  const request = entry.def.request.fromJSON(readEventJson(json, entry.def.requestType, entry.requestFields));
  const bus = await connectBus(flags);
  try {
    const client = new OperationClient(bus.transport, entry.domain, entry.def);
    const reply = await client.request(request, flags.timeout !== undefined ? { timeoutMs: flags.timeout } : {});
    process.stdout.write(`${JSON.stringify(entry.def.reply.toJSON(reply))}\n`);
    return 0;
  } finally {
    await bus.drain().catch(() => undefined);
  }
}
