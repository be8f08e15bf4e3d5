import { createAccount, createOperator, createUser, encodeAccount, encodeOperator, encodeUser, fmtCreds } from "@nats-io/jwt";
import { createUser as createUserKey } from "@nats-io/nkeys";
import type { OperatorConfig, UserPermissions } from "./config.js";

export interface NkeyIdentity {
  /** Public key, for the server's config ("U..."). */
  readonly publicKey: string;
  /** Seed, for the client ("SU..."). Secret. */
  readonly seed: string;
}

/** A fresh user nkey pair for nkey authentication. */
export function createNkeyUser(): NkeyIdentity {
  const kp = createUserKey();
  return { publicKey: kp.getPublicKey(), seed: new TextDecoder().decode(kp.getSeed()) };
}

export interface JwtUser {
  /** The user's JWT, signed by its account. */
  readonly jwt: string;
  /** The user's nkey seed, used to sign the server's nonce. Secret. */
  readonly seed: string;
  /** The content of a `.creds` file (JWT + seed). */
  readonly creds: string;
}

export interface OperatorSetup {
  /** Pass as `auth: { operator: setup.config }` to startNatsServer. */
  readonly config: OperatorConfig;
  /** Public keys of the accounts by name. */
  readonly accounts: Readonly<Record<string, string>>;
  /** Issues a user JWT in the named account. */
  createUser(account: string, name: string, permissions?: UserPermissions): Promise<JwtUser>;
}

function toJwtPermissions(p: UserPermissions | undefined): Record<string, unknown> {
  if (!p) return {};
  const rule = (r: UserPermissions["publish"]): Record<string, unknown> =>
    Array.isArray(r) ? { allow: r } : { ...(r as object) };
  return { ...(p.publish ? { pub: rule(p.publish) } : {}), ...(p.subscribe ? { sub: rule(p.subscribe) } : {}) };
}

/**
 * Operator (decentralized JWT) mode with a memory resolver: an operator, a
 * system account and the named accounts (JetStream enabled, unlimited), all
 * preloaded into the server's config.
 */
export async function createOperatorSetup(accountNames: readonly string[] = ["APP"]): Promise<OperatorSetup> {
  const operator = createOperator();
  const system = createAccount();
  const operatorJwt = await encodeOperator("cozebus-test", operator, { system_account: system.getPublicKey() });
  const accountJwts: Record<string, string> = {
    [system.getPublicKey()]: await encodeAccount("SYS", system, {}, { signer: operator }),
  };
  const keys = new Map<string, ReturnType<typeof createAccount>>();
  for (const name of accountNames) {
    const kp = createAccount();
    keys.set(name, kp);
    accountJwts[kp.getPublicKey()] = await encodeAccount(
      name,
      kp,
      {
        // Every limit spelled out: a partial limits object leaves the rest at 0 (no connections allowed).
        limits: {
          subs: -1, conn: -1, leaf: -1, data: -1, payload: -1, imports: -1, exports: -1, wildcards: true,
          mem_storage: -1, disk_storage: -1, streams: -1, consumer: -1,
        },
      },
      { signer: operator },
    );
  }
  return {
    config: { operatorJwt, systemAccount: system.getPublicKey(), accountJwts },
    accounts: Object.fromEntries([...keys].map(([n, kp]) => [n, kp.getPublicKey()])),
    async createUser(account, name, permissions) {
      const akp = keys.get(account);
      if (!akp) throw new Error(`unknown account "${account}"; known: ${[...keys.keys()].join(", ")}`);
      const ukp = createUser();
      const jwt = await encodeUser(name, ukp, akp, toJwtPermissions(permissions));
      const seed = new TextDecoder().decode(ukp.getSeed());
      return { jwt, seed, creds: new TextDecoder().decode(fmtCreds(jwt, ukp)) };
    },
  };
}
