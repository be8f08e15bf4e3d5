import { EventClient, type EventDef, type PublishReceipt } from "@cozebus/nats";
import { findEvent } from "../catalog.js";
import { connectTransport, type GlobalFlags } from "../connect.js";
import { usageError } from "../errors.js";
import { readEventJson } from "../json-input.js";
import type { SchemaSet } from "../schemas.js";

function printReceipt(type: string, r: PublishReceipt, json: boolean): void {
  if (json) process.stdout.write(`${JSON.stringify(r)}\n`);
  else process.stdout.write(`published ${type} on ${r.subject}${r.position !== undefined ? ` (stored at ${r.position}${r.duplicate === true ? ", duplicate" : ""})` : ` (${r.qos}: not stored)`} id ${r.id}\n`);
}

/** The domain of an event's subject template: `coze.<domain>.…`. */
const domainOf = (def: EventDef): string => def.subject.split(".")[1] ?? "";

/** Publishes a message the caller has already checked, and prints the receipt. */
async function publish(def: EventDef, domain: string, message: unknown, flags: GlobalFlags): Promise<number> {
  const conn = await connectTransport(flags);
  try {
    const client = new EventClient(conn.transport, domain, def);
    const partial = message as never;
    client.subjectFor(partial); // validates the subject fields (a SubjectError is exit 2)
    printReceipt(def.type, await client.publish(partial), flags.json);
    return 0;
  } finally {
    await conn.close();
  }
}

/**
 * `cozebus pub <event> <json>`: publishes one typed event on the chosen
 * transport; prints its subject (and where it was stored: JetStream
 * stream/sequence, a Pulsar message id). With --schemas, events of a newer
 * schema are found and encoded through the descriptor set.
 */
export async function pubCommand(args: readonly string[], flags: GlobalFlags & { readonly schemas?: SchemaSet }): Promise<number> {
  const [ref, json] = args;
  if (ref === undefined || json === undefined) throw usageError('usage: cozebus pub <event> <json>   e.g. cozebus pub workflow.executionStarted \'{"workflowId":"wf_1"}\'');
  // Everything is checked before connecting: bad input never reaches the bus.
  const described = flags.schemas?.eventDef(ref);
  if (described !== undefined) {
    let message: unknown;
    try {
      message = described.codec.fromJSON(JSON.parse(json));
    } catch (err) {
      throw usageError(`${described.type}: ${(err as Error).message}`);
    }
    return publish(described, domainOf(described), message, flags);
  }
  const entry = findEvent(ref);
  if (entry === undefined) throw usageError(`unknown event "${ref}"; list them with "cozebus events"`);
  return publish(entry.def, entry.domain, entry.def.codec.fromJSON(readEventJson(json, entry.def.type, entry.fields)), flags);
}
