import { EventClient } from "@cozebus/nats";
import { findEvent } from "../catalog.js";
import { connectBus, type GlobalFlags } from "../connect.js";
import { usageError } from "../errors.js";
import { readEventJson } from "../json-input.js";

/** `cozebus pub <event> <json>`: publishes one typed event; prints its subject (and stream/sequence for JetStream). */
export async function pubCommand(args: readonly string[], flags: GlobalFlags): Promise<number> {
  const [ref, json] = args;
  if (ref === undefined || json === undefined) throw usageError('usage: cozebus pub <event> <json>   e.g. cozebus pub workflow.executionStarted \'{"workflowId":"wf_1"}\'');
  const entry = findEvent(ref);
  if (entry === undefined) throw usageError(`unknown event "${ref}"; list them with "cozebus events"`);
  // Everything is checked before connecting: bad input never reaches the bus.
  const message = entry.def.codec.fromJSON(readEventJson(json, entry.def.type, entry.fields));
  const bus = await connectBus(flags);
  try {
    const client = new EventClient(bus, entry.domain, entry.def);
    const partial = message as never;
    client.subjectFor(partial); // validates the subject fields (a SubjectError is exit 2)
    const r = await client.publish(partial);
    if (flags.json) process.stdout.write(`${JSON.stringify(r)}\n`);
    else process.stdout.write(`published ${entry.def.type} on ${r.subject}${r.stream !== undefined ? ` (stream ${r.stream}, seq ${r.seq}${r.duplicate ? ", duplicate" : ""})` : " (core)"} id ${r.id}\n`);
    return 0;
  } finally {
    await bus.drain().catch(() => undefined);
  }
}
