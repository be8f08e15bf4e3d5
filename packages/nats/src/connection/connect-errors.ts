import type { ResolvedConfig } from "../config/resolve.js";
import { AuthError, ConnectError, TlsError, describe, type CozebusError } from "../errors.js";

const TLS_TRUST_CODES = new Set([
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "UNABLE_TO_GET_ISSUER_CERT",
  "CERT_SIGNATURE_FAILURE",
  "CERT_HAS_EXPIRED",
  "CERT_NOT_YET_VALID",
  "ERR_TLS_CERT_ALTNAME_INVALID",
]);

const AUTH_LABEL: Record<ResolvedConfig["auth"]["method"], string> = {
  none: "no credentials",
  token: "token",
  "user-password": "user/password",
  nkey: "nkey",
  jwt: "JWT",
  creds: "creds file",
};

/**
 * Turns whatever nats.js or Node's TLS layer threw while connecting into an
 * error that says which setting to fix. Messages name variables and servers,
 * never credential values.
 */
export function explainConnectError(err: unknown, c: ResolvedConfig): CozebusError {
  const servers = c.servers.join(", ");
  const e = err as Error & { code?: string };
  const msg = describe(err);
  const name = e?.name ?? "";

  if (name === "AuthorizationError" || /authorization violation/i.test(msg)) {
    const hint =
      c.auth.method === "none"
        ? "the server requires credentials: set NATS_TOKEN, NATS_USERNAME/NATS_PASSWORD, NATS_NKEY_SEED, NATS_JWT_TOKEN + NATS_NKEY_SEED or NATS_CREDS_FILE"
        : `check the ${AUTH_LABEL[c.auth.method]} from ${c.auth.from}`;
    return new AuthError(`${servers} rejected the connection (${AUTH_LABEL[c.auth.method]}): ${hint}`, { cause: err });
  }
  if (/authentication expired/i.test(msg)) {
    return new AuthError(`${servers} says the user's credentials have expired (${c.auth.from}): issue a new JWT or creds file`, { cause: err });
  }
  if (/maximum account active connections exceeded|maximum connections exceeded/i.test(msg)) {
    return new ConnectError(`${servers} refused the connection: ${msg}; the account's connection limit is reached`, { cause: err });
  }
  if (e?.code !== undefined && TLS_TRUST_CODES.has(e.code)) {
    if (c.tls === undefined) {
      return new TlsError(
        `${servers} requires TLS but none is configured: use tls:// URLs and set NATS_TLS_CA_FILE to the CA that signed the server's certificate (${e.code})`,
        { cause: err },
      );
    }
    if (c.tls.caFile === undefined) {
      return new TlsError(`the certificate of ${servers} is not trusted by the system CAs (${e.code}): set NATS_TLS_CA_FILE to the CA that signed it`, { cause: err });
    }
    return new TlsError(
      `the certificate of ${servers} does not verify against the CA in ${c.tls.caFile} (${e.code}): point NATS_TLS_CA_FILE at the CA that signed the server's certificate`,
      { cause: err },
    );
  }
  if (/does not support 'tls'|tls not available/i.test(msg)) {
    return new TlsError(`TLS is configured but ${servers} does not offer it: use nats:// URLs without TLS files, or enable TLS on the server`, { cause: err });
  }
  if (/certificate|handshake|ssl|tls/i.test(msg) && c.tls !== undefined) {
    return new TlsError(`TLS handshake with ${servers} failed: ${msg}`, { cause: err });
  }
  if (name === "TimeoutError" || /timeout/i.test(msg)) {
    const mtls =
      c.tls !== undefined && c.tls.certFile === undefined
        ? "; if the server verifies client certificates (mutual TLS), set NATS_TLS_CERT_FILE and NATS_TLS_KEY_FILE"
        : "";
    return new ConnectError(`no answer from ${servers} within ${c.connectTimeoutMs} ms${mtls}`, { cause: err });
  }
  if (/refused|ECONNREFUSED|ENOTFOUND|EHOSTUNREACH|ECONNRESET/i.test(`${msg} ${describe((e as { cause?: unknown })?.cause)}`)) {
    return new ConnectError(`cannot reach ${servers} (${msg}): is nats-server running there? Set NATS_SERVER_URL to the right address`, { cause: err });
  }
  return new ConnectError(`connecting to ${servers} failed: ${msg}`, { cause: err });
}
