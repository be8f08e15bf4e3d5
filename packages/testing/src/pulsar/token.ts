import { createHmac, randomBytes } from "node:crypto";

/** A fresh HS256 secret for a broker's token auth (256 bits: the least the broker's JWT library accepts for HS256). */
export function createPulsarSecretKey(): Buffer {
  return randomBytes(32);
}

export interface PulsarTokenOptions {
  /** Seconds from now until the token expires; without it the token never does (as `pulsar tokens create` makes them). */
  readonly expiresInSeconds?: number;
}

const b64url = (data: Buffer | string): string => Buffer.from(data).toString("base64url");

/**
 * A JWT for Pulsar's AuthenticationProviderToken: HS256 over `{"sub": role}`,
 * the shape `pulsar tokens create --secret-key ... --subject role` makes.
 * The broker takes `sub` as the client's role for authorization.
 */
export function createPulsarToken(secretKey: Uint8Array, role: string, opts: PulsarTokenOptions = {}): string {
  if (role === "") throw new Error("a Pulsar token needs a non-empty role");
  const claims: { sub: string; exp?: number } = { sub: role };
  if (opts.expiresInSeconds !== undefined) claims.exp = Math.floor(Date.now() / 1000) + opts.expiresInSeconds;
  const signingInput = `${b64url(JSON.stringify({ alg: "HS256" }))}.${b64url(JSON.stringify(claims))}`;
  const signature = createHmac("sha256", secretKey).update(signingInput).digest();
  return `${signingInput}.${b64url(signature)}`;
}
