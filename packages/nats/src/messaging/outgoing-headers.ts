import { Match, type MsgHdrs } from "@nats-io/transport-node";

const te = new TextEncoder();

/**
 * Headers of one outgoing event, built for the publish hot path: entries in
 * a flat list (values validated by the caller), and the wire block
 * (`NATS/1.0\r\nk: v\r\n...`) encoded once and reused for every resend.
 * The client's own header map costs a Map, an array per key, a key
 * canonicalization per set and a string rebuild per send.
 */
export class OutgoingHeaders implements MsgHdrs {
  readonly #keys: string[] = [];
  readonly #values: string[] = [];
  #encoded: Uint8Array | undefined;

  readonly hasError = false;
  readonly status = "";
  readonly code = 0;
  readonly description = "";

  /** Adds an entry whose key and value the caller has already validated. */
  add(key: string, value: string): void {
    this.#keys.push(key);
    this.#values.push(value);
    this.#encoded = undefined;
  }

  #indexes(k: string, match: Match): number[] {
    const out: number[] = [];
    const lk = k.toLowerCase();
    for (let i = 0; i < this.#keys.length; i++) {
      const key = this.#keys[i]!;
      if (match === Match.Exact ? key === k : key.toLowerCase() === lk) out.push(i);
    }
    return out;
  }

  get(k: string, match: Match = Match.Exact): string {
    const i = this.#indexes(k, match)[0];
    return i === undefined ? "" : this.#values[i]!;
  }

  last(k: string, match: Match = Match.Exact): string {
    const i = this.#indexes(k, match).at(-1);
    return i === undefined ? "" : this.#values[i]!;
  }

  has(k: string, match: Match = Match.Exact): boolean {
    return this.#indexes(k, match).length > 0;
  }

  values(k: string, match: Match = Match.Exact): string[] {
    return this.#indexes(k, match).map((i) => this.#values[i]!);
  }

  keys(): string[] {
    return [...new Set(this.#keys)];
  }

  set(k: string, v: string, match: Match = Match.Exact): void {
    this.delete(k, match);
    this.append(k, v);
  }

  append(k: string, v: string): void {
    if (!/^[\x21-\x39\x3b-\x7e]+$/.test(k)) throw new Error(`invalid header name ${JSON.stringify(k)}`);
    if (/[\r\n]/.test(v)) throw new Error(`header ${k}: values cannot contain CR or LF`);
    this.add(k, v.trim());
  }

  delete(k: string, match: Match = Match.Exact): void {
    for (const i of this.#indexes(k, match).reverse()) {
      this.#keys.splice(i, 1);
      this.#values.splice(i, 1);
    }
    this.#encoded = undefined;
  }

  *[Symbol.iterator](): IterableIterator<[string, string[]]> {
    for (const k of this.keys()) yield [k, this.values(k)];
  }

  /** The wire form, as the client's publish expects from any MsgHdrs. */
  encode(): Uint8Array {
    if (this.#encoded === undefined) {
      let s = "NATS/1.0";
      for (let i = 0; i < this.#keys.length; i++) s += `\r\n${this.#keys[i]!}: ${this.#values[i]!}`;
      this.#encoded = te.encode(`${s}\r\n\r\n`);
    }
    return this.#encoded;
  }
}
