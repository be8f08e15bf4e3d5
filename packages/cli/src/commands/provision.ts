import { domainClient } from "@cozebus/core";
import { connectTransport, type GlobalFlags } from "../connect.js";
import { DOMAINS } from "../domains.js";

/**
 * `cozebus provision`: what every domain needs on the chosen transport,
 * through the port (`transport.provision(plan)`), additively: on NATS the
 * domains' streams and the dead-letter stream (as `streams apply`); on
 * Pulsar the tenant and namespace when missing, a topic per event type, each
 * domain's dead-letter topic and its `cozebus-dlq` subscription. Nothing is
 * ever removed.
 */
export async function provisionCommand(flags: GlobalFlags): Promise<number> {
  const conn = await connectTransport(flags);
  try {
    for (const { def, build } of DOMAINS) {
      for (const r of await domainClient(conn.transport, def, { build }).provision()) {
        if (flags.json) process.stdout.write(`${JSON.stringify({ domain: def.name, ...r })}\n`);
        else {
          process.stdout.write(`${def.name}: ${r.resource}: ${r.action}\n`);
          for (const c of r.conflicts) process.stdout.write(`  kept: ${c}\n`);
        }
      }
    }
    return 0;
  } finally {
    await conn.close();
  }
}
