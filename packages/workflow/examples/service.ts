// The 20-line service of docs/service-author.md, type-checked with this package
// (npm run typecheck) so the guide cannot drift from the API.
import { connect, drainOnSignals, NonRetryableError } from "@cozebus/nats";
import { workflow } from "@cozebus/workflow";

const bus = await connect();                  // NATS_SERVER_URL, credentials, TLS: from the environment
drainOnSignals(bus);                          // SIGTERM/SIGINT: finish running handlers, then exit
const wf = workflow(bus);
await wf.provision();                         // streams for JetStream events; idempotent, call at start-up

await wf.executionStarted.subscribe(async (event, ctx) => {
  if (event.workflowId === "") throw new NonRetryableError("no workflow id");   // -> dead letter at once
  await runWorkflow(event.workflowId, event.executeId);                         // throws -> retried with backoff
  await wf.executionCompleted.publish({ workflowId: event.workflowId, executeId: event.executeId, outputJson: "{}" });
  console.log(`done ${ctx.subject}`);
}, { group: "workflow-runner", concurrency: 8 });

await wf.executionStarted.publish({ workflowId: "wf_1", executeId: 42n, startedAt: new Date() });

async function runWorkflow(id: string, executeId: bigint): Promise<void> {
  console.log(`running ${id} #${executeId}`);
  await new Promise((resolve) => setTimeout(resolve, 10)); // the real work goes here
}
