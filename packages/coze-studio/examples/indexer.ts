// The indexer of docs/coze-studio.md, type-checked with this package (npm run
// typecheck); test/docs.test.ts keeps the guide's copy identical to this file.
import { connect, drainOnSignals, NonRetryableError } from "@cozebus/nats";
import { cozeStudio, cozeStudioBusOptions, KNOWLEDGE, type KnowledgeDocument } from "@cozebus/coze-studio";

const bus = await connect(cozeStudioBusOptions());  // MQ_NAME_SERVER, NATS_USE_JETSTREAM, NATS_*: Coze's own .env
drainOnSignals(bus);                                // SIGTERM/SIGINT: finish running handlers, then exit
const coze = cozeStudio(bus);

await coze.registerConsumer(KNOWLEDGE, async (event, msg) => {
  switch (event.type) {
    case "index_documents":                         // the batch, before Coze fans it out
      for (const doc of event.documents ?? []) if (doc !== null) await upsert(doc);
      break;
    case "index_document":
      if (event.document === undefined) throw new NonRetryableError("no document"); // acked and dropped, as in Coze
      await upsert(event.document);                 // throws -> retried with backoff, then dead-lettered
      break;
    case "delete_knowledge_data":
      await remove(event.knowledgeId, event.sliceIds ?? []);                        // ids are bigint: exact above 2^53
      break;
  }
  console.log(`${event.type} (delivery ${msg.attempt})`);
}, { group: "cg_search_mirror", concurrency: 4 }); // its own group: a copy of every event; cg_knowledge stays Coze's

function upsert(doc: KnowledgeDocument): Promise<void> {
  console.log(`upsert document ${doc.id} (${doc.uri})`);         // your store goes here: make it idempotent
  return Promise.resolve();
}

function remove(knowledgeId: bigint, sliceIds: readonly bigint[]): Promise<void> {
  console.log(`delete ${sliceIds.length} slice(s) of knowledge ${knowledgeId}`);
  return Promise.resolve();
}
