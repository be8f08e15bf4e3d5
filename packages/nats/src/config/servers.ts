import { ConfigError } from "../errors.js";

/**
 * Parses a server list into normalized URLs. Bare `host:port` (as in
 * MQ_NAME_SERVER="nats:4222") means `nats://host:port`. Credentials inside a
 * URL are refused: URLs are logged and shown in errors, secrets must not be.
 */
export function parseServers(variable: string, raw: string | readonly string[]): { urls: string[]; tls: boolean } {
  const entries = (typeof raw === "string" ? raw.split(",") : [...raw]).map((s) => s.trim());
  if (entries.length === 0 || entries.every((e) => e === "")) {
    throw new ConfigError(variable, "no server given; expected e.g. nats://127.0.0.1:4222");
  }
  const urls: string[] = [];
  const schemes = new Set<string>();
  for (const [i, entry] of entries.entries()) {
    if (entry === "") throw new ConfigError(variable, `entry ${i + 1} is empty (a stray comma?)`);
    const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(entry) ? entry : `nats://${entry}`;
    let url: URL;
    try {
      url = new URL(withScheme);
    } catch {
      throw new ConfigError(variable, `${JSON.stringify(entry)} is not a valid URL; expected nats://host:port or tls://host:port`);
    }
    const scheme = url.protocol.slice(0, -1).toLowerCase();
    if (scheme !== "nats" && scheme !== "tls") {
      throw new ConfigError(variable, `${JSON.stringify(`${scheme}://`)} is not supported; use nats:// or tls:// (entry ${i + 1})`);
    }
    if (url.username !== "" || url.password !== "") {
      throw new ConfigError(
        variable,
        `entry ${i + 1} carries credentials in the URL; put them in NATS_USERNAME/NATS_PASSWORD or NATS_TOKEN instead (URLs end up in logs)`,
      );
    }
    if (url.hostname === "") throw new ConfigError(variable, `entry ${i + 1} has no host`);
    if ((url.pathname !== "" && url.pathname !== "/") || url.search !== "" || url.hash !== "") {
      throw new ConfigError(variable, `${JSON.stringify(entry)} has a path or query; expected only scheme://host:port`);
    }
    const port = url.port === "" ? 4222 : Number(url.port);
    schemes.add(scheme);
    urls.push(`${scheme}://${url.hostname}:${port}`);
  }
  if (schemes.size > 1) {
    throw new ConfigError(variable, "mixes nats:// and tls:// servers; a cluster is either all TLS or none");
  }
  return { urls, tls: schemes.has("tls") };
}
