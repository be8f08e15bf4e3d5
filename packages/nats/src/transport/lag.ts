import type { JetStreamManager } from "@nats-io/jetstream";
import type { GroupLag } from "@cozebus/core/transport";
import type { DurableConsumer } from "../jetstream/consumer.js";
import type { PartitionedConsumer } from "../jetstream/partitioned/consumer.js";

/** The (stream, durable) pairs a subscription's consumers read. */
export function consumerPositions(stream: string, consumers: ReadonlyArray<DurableConsumer | PartitionedConsumer>): Array<{ stream: string; name: string }> {
  return consumers.flatMap((c) => {
    if ("layout" in c) {
      // A partitioned group reads its partition stream, one consumer per partition (all of them, owned here or not: the group's backlog).
      const layout = c.layout;
      return layout === undefined ? [] : layout.consumers.map((name) => ({ stream: layout.stream, name }));
    }
    return [{ stream, name: c.name }];
  });
}

/**
 * The group's backlog from each consumer's info (answered by the consumer's
 * leader): num_pending, num_ack_pending, num_redelivered.
 */
export async function readLag(jsm: JetStreamManager, positions: ReadonlyArray<{ stream: string; name: string }>): Promise<GroupLag[]> {
  return Promise.all(
    positions.map(async ({ stream, name }) => {
      const info = await jsm.consumers.info(stream, name);
      return { destination: stream, consumer: name, pending: info.num_pending, ackPending: info.num_ack_pending, redelivered: info.num_redelivered };
    }),
  );
}
