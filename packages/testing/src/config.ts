/**
 * Renders nats-server configuration files from typed options. Only what the
 * harness needs is modelled; `extraConfig` takes raw text for the rest.
 */

/** Subjects a user may publish or subscribe to. A plain list means "allow". */
export type SubjectRule = readonly string[] | { readonly allow?: readonly string[]; readonly deny?: readonly string[] };

export interface UserPermissions {
  readonly publish?: SubjectRule;
  readonly subscribe?: SubjectRule;
}

/** A user who logs in with a name and password. */
export interface PasswordUser {
  readonly user: string;
  readonly password: string;
  readonly permissions?: UserPermissions;
}

/** A user who logs in by signing the server's nonce with an nkey. */
export interface NkeyUser {
  /** The user's public nkey (starts with "U"). */
  readonly nkey: string;
  readonly permissions?: UserPermissions;
}

export type ServerUser = PasswordUser | NkeyUser;

export interface AccountSpec {
  readonly users: readonly ServerUser[];
  /** JetStream for this account; on by default. */
  readonly jetstream?: boolean;
}

export interface ServerTls {
  readonly certFile: string;
  readonly keyFile: string;
  /** CA that client certificates must chain to (needed with `verify`). */
  readonly caFile?: string;
  /** Mutual TLS: require a client certificate signed by `caFile`. */
  readonly verify?: boolean;
}

/** One authentication setup; several at once are not modelled on purpose. */
export type ServerAuth =
  | { readonly token: string }
  | { readonly users: readonly ServerUser[] }
  | { readonly accounts: Readonly<Record<string, AccountSpec>> }
  | { readonly operator: OperatorConfig };

/** The part of an operator (JWT) setup that goes into the server's config. */
export interface OperatorConfig {
  readonly operatorJwt: string;
  readonly systemAccount: string;
  /** Account public key -> account JWT, preloaded into the memory resolver. */
  readonly accountJwts: Readonly<Record<string, string>>;
}

export interface RenderSpec {
  readonly serverName: string;
  readonly port: number;
  readonly httpPort: number;
  readonly storeDir: string;
  readonly jetstream: boolean;
  readonly tls?: ServerTls;
  readonly auth?: ServerAuth;
  readonly cluster?: { readonly name: string; readonly port: number; readonly routes: readonly number[] };
  readonly extraConfig?: string;
  /** The text of a user's own nats.conf to start from (see `rebaseConfig`). */
  readonly baseConfig?: string;
  /** `jetstream { domain: ... }`: this server's JetStream domain. */
  readonly jetstreamDomain?: string;
  /** Leaf nodes: accept them on this loopback port, and/or connect to these remotes as one. */
  readonly leafnodes?: LeafnodeSpec;
}

const q = (s: string): string => JSON.stringify(s);

function renderRule(rule: SubjectRule): string {
  if (Array.isArray(rule)) return `[${(rule as readonly string[]).map(q).join(", ")}]`;
  const r = rule as { allow?: readonly string[]; deny?: readonly string[] };
  const parts: string[] = [];
  if (r.allow) parts.push(`allow: [${r.allow.map(q).join(", ")}]`);
  if (r.deny) parts.push(`deny: [${r.deny.map(q).join(", ")}]`);
  return `{ ${parts.join(", ")} }`;
}

function renderUser(u: ServerUser): string {
  const fields = "nkey" in u ? [`nkey: ${q(u.nkey)}`] : [`user: ${q(u.user)}`, `password: ${q(u.password)}`];
  if (u.permissions) {
    const p: string[] = [];
    if (u.permissions.publish) p.push(`publish: ${renderRule(u.permissions.publish)}`);
    if (u.permissions.subscribe) p.push(`subscribe: ${renderRule(u.permissions.subscribe)}`);
    fields.push(`permissions: { ${p.join(", ")} }`);
  }
  return `{ ${fields.join(", ")} }`;
}

function renderAuth(auth: ServerAuth): string {
  if ("token" in auth) return `authorization { token: ${q(auth.token)} }`;
  if ("users" in auth) return `authorization { users: [\n  ${auth.users.map(renderUser).join(",\n  ")}\n] }`;
  if ("accounts" in auth) {
    const accounts = Object.entries(auth.accounts).map(([name, spec]) => {
      const js = spec.jetstream === false ? "" : "jetstream: enabled, ";
      return `  ${q(name)}: { ${js}users: [${spec.users.map(renderUser).join(", ")}] }`;
    });
    return `accounts {\n${accounts.join("\n")}\n}`;
  }
  const op = auth.operator;
  const preload = Object.entries(op.accountJwts).map(([k, v]) => `  ${k}: ${q(v)}`);
  return [
    `operator: ${q(op.operatorJwt)}`,
    `system_account: ${q(op.systemAccount)}`,
    `resolver: MEMORY`,
    `resolver_preload: {\n${preload.join("\n")}\n}`,
  ].join("\n");
}

const JETSTREAM_BLOCK = /(^|\n)\s*jetstream\s*[:=]?\s*\{/;
const STORE_DIR = /\bstore_dir\s*[:=]?\s*("[^"]*"|'[^']*'|[^\s,}]+)/g;

/** Top-level keys a test server must own: where it listens and what it is called. */
const OWNED_KEYS = /^\s*(port|listen|host|net|http_port|http|https_port|https|monitor_port|server_name)\s*[:=\s]/;

/**
 * Moves a user's nats.conf onto this test server: top-level listen, monitor
 * and name settings are commented out (renderConfig sets its own; nats-server
 * reads keys in no fixed order, so both cannot stay), every `store_dir` points
 * at `storeDir`, and a jetstream block without one gets it (else the server
 * would share a default temp dir with other tests). Everything else (limits,
 * payload size, accounts...) is kept.
 */
export function rebaseConfig(text: string, storeDir: string): { text: string; hasJetStream: boolean } {
  const hasJetStream = JETSTREAM_BLOCK.test(text);
  let depth = 0;
  const lines = text.split("\n").map((line) => {
    const code = line.replace(/#.*$/, "");
    const owned = depth === 0 && OWNED_KEYS.test(code);
    for (const ch of code) depth += ch === "{" ? 1 : ch === "}" ? -1 : 0;
    return owned ? `# (set by @cozebus/testing) ${line}` : line;
  });
  let out = lines.join("\n").replace(STORE_DIR, () => `store_dir: ${q(storeDir)}`);
  if (hasJetStream && !/\bstore_dir\b/.test(text)) out = out.replace(JETSTREAM_BLOCK, (m) => `${m} store_dir: ${q(storeDir)},`);
  return { text: out, hasJetStream };
}

export function renderConfig(spec: RenderSpec): string {
  const base = spec.baseConfig !== undefined ? rebaseConfig(spec.baseConfig, spec.storeDir) : undefined;
  const lines = [
    ...(base ? ["# --- the given base configuration ---", base.text, "# --- this test server's own settings (the base's listen and name keys are commented out above) ---"] : []),
    `server_name: ${q(spec.serverName)}`,
    `listen: "127.0.0.1:${spec.port}"`,
    `http: "127.0.0.1:${spec.httpPort}"`,
  ];
  if (spec.jetstreamDomain !== undefined) {
    // Refused rather than dropped: a test that asked for a domain must not silently run without one.
    if (!spec.jetstream) throw new Error(`jetstreamDomain ${q(spec.jetstreamDomain)} needs JetStream on; drop jetstream: false or the domain`);
    if (base?.hasJetStream) throw new Error(`jetstreamDomain ${q(spec.jetstreamDomain)} cannot be combined with a base configuration's own jetstream block; set domain there`);
    if (!/^[^\s.*>]+$/.test(spec.jetstreamDomain)) throw new Error(`jetstreamDomain ${q(spec.jetstreamDomain)} is not one token (nats-server refuses ".", "*", ">" and spaces)`);
  }
  if (spec.jetstream && !base?.hasJetStream) {
    // Explicit limits: max_file_store is a reservation ceiling (streams reserve their max_bytes), not disk actually used.
    const domain = spec.jetstreamDomain !== undefined ? `, domain: ${q(spec.jetstreamDomain)}` : "";
    lines.push(`jetstream { store_dir: ${q(spec.storeDir)}, max_memory_store: 256MB, max_file_store: 16GB${domain} }`);
  }
  if (spec.tls) {
    const t = spec.tls;
    const f = [`cert_file: ${q(t.certFile)}`, `key_file: ${q(t.keyFile)}`, `timeout: 2`];
    if (t.caFile) f.push(`ca_file: ${q(t.caFile)}`);
    if (t.verify) f.push(`verify: true`);
    lines.push(`tls { ${f.join(", ")} }`);
  }
  if (spec.auth) lines.push(renderAuth(spec.auth));
  if (spec.cluster) {
    const c = spec.cluster;
    const routes = c.routes.map((p) => q(`nats-route://127.0.0.1:${p}`)).join(", ");
    lines.push(`cluster { name: ${q(c.name)}, listen: "127.0.0.1:${c.port}", routes: [${routes}] }`);
  }
  if (spec.leafnodes) lines.push(renderLeafnodes(spec.leafnodes));
  if (spec.extraConfig) lines.push(spec.extraConfig);
  return lines.join("\n") + "\n";
}

export interface LeafnodeSpec {
  /** Accept leaf node connections on this loopback port. */
  readonly port?: number | undefined;
  /** Connect to these servers as a leaf node. */
  readonly remotes?: readonly string[] | undefined;
}

const LOOPBACK = new Set(["127.0.0.1", "localhost", "[::1]"]);

/** A leafnodes block: listen on loopback, and one remote per URL (loopback only, like everything the harness starts). */
export function renderLeafnodes(leaf: LeafnodeSpec): string {
  const parts: string[] = [];
  if (leaf.port !== undefined) parts.push(`listen: "127.0.0.1:${leaf.port}"`);
  if (leaf.remotes !== undefined && leaf.remotes.length > 0) {
    for (const r of leaf.remotes) {
      let url: URL;
      try {
        url = new URL(r);
      } catch {
        throw new Error(`leaf remote ${q(r)} is not a URL; expected e.g. nats-leaf://127.0.0.1:7422 (a hub's leafnodeUrl)`);
      }
      if (!["nats-leaf:", "nats:", "tls:"].includes(url.protocol)) throw new Error(`leaf remote ${q(r)}: use nats-leaf://, nats:// or tls://`);
      if (!LOOPBACK.has(url.hostname)) throw new Error(`leaf remote ${q(r)} is not on loopback; test servers only talk to 127.0.0.1`);
    }
    parts.push(`remotes: [${leaf.remotes.map((r) => `{ url: ${q(r)} }`).join(", ")}]`);
  }
  return `leafnodes { ${parts.join(", ")} }`;
}
