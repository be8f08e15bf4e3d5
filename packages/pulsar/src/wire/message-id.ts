/**
 * Pulsar message ids for people: the WebSocket API hands out base64 of the
 * MessageIdData protobuf; operators, logs and the admin REST API say
 * `ledger:entry` (plus `:partition:batch` for those). The readable form is
 * what receipts and deliveries show, and the dedupe key across redeliveries.
 */
export interface MessageIdParts {
  readonly ledgerId: bigint;
  readonly entryId: bigint;
  readonly partition: number;
  readonly batchIndex: number;
}

function varint(buf: Uint8Array, at: number): [bigint, number] {
  let result = 0n;
  let shift = 0n;
  for (let i = at; i < buf.length; i++) {
    const b = buf[i]!;
    result |= BigInt(b & 0x7f) << shift;
    if ((b & 0x80) === 0) return [result, i + 1];
    shift += 7n;
  }
  throw new Error("truncated varint");
}

/** Decodes fields 1-4 of MessageIdData (ledgerId, entryId, partition, batch_index); undefined when it is not one. */
export function parseMessageId(base64: string): MessageIdParts | undefined {
  try {
    const buf = Buffer.from(base64, "base64");
    let at = 0;
    let ledgerId: bigint | undefined;
    let entryId: bigint | undefined;
    let partition = -1;
    let batchIndex = -1;
    while (at < buf.length) {
      const [tag, next] = varint(buf, at);
      at = next;
      const field = Number(tag >> 3n);
      const wire = Number(tag & 7n);
      if (wire === 0) {
        const [v, n] = varint(buf, at);
        at = n;
        // int32 fields are sign-extended to 64 bits on the wire (partition -1).
        const asInt = Number(BigInt.asIntN(32, v));
        if (field === 1) ledgerId = v;
        else if (field === 2) entryId = v;
        else if (field === 3) partition = asInt;
        else if (field === 4) batchIndex = asInt;
      } else if (wire === 2) {
        const [len, n] = varint(buf, at);
        at = n + Number(len);
      } else return undefined;
    }
    if (ledgerId === undefined || entryId === undefined) return undefined;
    return { ledgerId, entryId, partition, batchIndex };
  } catch {
    return undefined;
  }
}

/** `13:0`, or `13:0:2:5` when partitioned or batched; the base64 itself when it cannot be decoded. */
export function readableMessageId(base64: string): string {
  const p = parseMessageId(base64);
  if (!p) return base64;
  const base = `${p.ledgerId}:${p.entryId}`;
  return p.partition >= 0 || p.batchIndex >= 0 ? `${base}:${p.partition}:${p.batchIndex}` : base;
}
