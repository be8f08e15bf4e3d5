import { EventClient, SubjectTemplate, type PublishReceipt } from "@cozebus/nats";
import { findEvent } from "../catalog.js";
import { connectBus, type GlobalFlags } from "../connect.js";
import { usageError } from "../errors.js";
import { readEventJson } from "../json-input.js";
import type { DescribedEvent, SchemaSet } from "../schemas.js";

function printReceipt(type: string, r: PublishReceipt, json: boolean): void {
  if (json) process.stdout.write(`${JSON.stringify(r)}\n`);
  else process.stdout.write(`published ${type} on ${r.subject}${r.stream !== undefined ? ` (stream ${r.stream}, seq ${r.seq}${r.duplicate ? ", duplicate" : ""})` : " (core)"} id ${r.id}\n`);
}

/** An event only the descriptor set knows (a schema newer than this build): encoded by reflection. */
async function pubDescribed(event: DescribedEvent, json: string, schemas: SchemaSet, flags: GlobalFlags): Promise<number> {
  const { data, values } = schemas.encode(event, json); // checked before connecting
  const bus = await connectBus(flags);
  try {
    const subject = bus.subject(SubjectTemplate.parse(event.subject), values); // a SubjectError is exit 2
    let r: PublishReceipt;
    // NATS_USE_JETSTREAM, when set, wins over the schema's delivery (as for generated events).
    const delivery = bus.useJetStream === undefined ? event.delivery : bus.useJetStream ? "jetstream" : "core";
    if (delivery === "jetstream") {
      const ack = await (await bus.jetstream()).publish(subject, data, { type: event.type });
      r = { id: ack.id, subject, delivery: "jetstream", stream: ack.stream, seq: ack.seq, duplicate: ack.duplicate };
    } else {
      r = { id: bus.publish(subject, data, { type: event.type }).id, subject, delivery: "core" };
    }
    printReceipt(event.type, r, flags.json);
    return 0;
  } finally {
    await bus.drain().catch(() => undefined);
  }
}

/**
 * `cozebus pub <event> <json>`: publishes one typed event; prints its subject
 * (and stream/sequence for JetStream). With --schemas, events of a newer
 * schema are found and encoded through the descriptor set.
 */
export async function pubCommand(args: readonly string[], flags: GlobalFlags & { readonly schemas?: SchemaSet }): Promise<number> {
  const [ref, json] = args;
  if (ref === undefined || json === undefined) throw usageError('usage: cozebus pub <event> <json>   e.g. cozebus pub workflow.executionStarted \'{"workflowId":"wf_1"}\'');
  const described = flags.schemas?.findEvent(ref);
  if (described !== undefined && flags.schemas !== undefined) return pubDescribed(described, json, flags.schemas, flags);
  const entry = findEvent(ref);
  if (entry === undefined) throw usageError(`unknown event "${ref}"; list them with "cozebus events"`);
  // Everything is checked before connecting: bad input never reaches the bus.
  const message = entry.def.codec.fromJSON(readEventJson(json, entry.def.type, entry.fields));
  const bus = await connectBus(flags);
  try {
    const client = new EventClient(bus, entry.domain, entry.def);
    const partial = message as never;
    client.subjectFor(partial); // validates the subject fields (a SubjectError is exit 2)
    printReceipt(entry.def.type, await client.publish(partial), flags.json);
    return 0;
  } finally {
    await bus.drain().catch(() => undefined);
  }
}
