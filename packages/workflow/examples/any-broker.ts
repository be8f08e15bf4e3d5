// The README example of @cozebus/core: the same typed service code on NATS or Pulsar, picked by COZE_MQ_TYPE.
// Type-checked with this package; test/any-broker.test.ts runs `audit` on a real nats-server and a real Pulsar broker.
import { connect, type Transport } from "@cozebus/core";
import { workflow } from "@cozebus/workflow";

/** Subscribes a group, publishes `ids.length` executions, and resolves with the ids its handler saw. */
export async function audit(bus: Transport, ids: readonly string[]): Promise<string[]> {
  const wf = workflow(bus);
  await wf.provision();
  const seen: string[] = [];
  let done: () => void = () => undefined;
  const all = new Promise<void>((resolve) => (done = resolve));
  const sub = await wf.executionStarted.subscribe(
    (event) => {
      seen.push(event.workflowId);
      if (seen.length === ids.length) done();
    },
    { group: "audit", retry: { maxDeliveries: 5 } },
  );
  for (const id of ids) await wf.executionStarted.publish({ workflowId: id, executeId: 1n, startedAt: new Date() });
  await all;
  await sub.stop();
  return seen;
}

export async function main(): Promise<void> {
  const bus = await connect(); // COZE_MQ_TYPE=nats (default) or pulsar; NATS_SERVER_URL / MQ_NAME_SERVER, PULSAR_JWT_TOKEN, ...
  console.log(await audit(bus, ["wf_1", "wf_2"]));
  await bus.drain();
}
