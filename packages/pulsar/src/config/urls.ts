import { ConfigError } from "@cozebus/core/transport";

export interface ServiceUrls {
  /** Normalized `pulsar://host:port` / `pulsar+ssl://host:port`. */
  readonly urls: string[];
  readonly tls: boolean;
  readonly hosts: string[];
}

function entries(variable: string, raw: string | readonly string[], example: string): string[] {
  const list = (typeof raw === "string" ? raw.split(",") : [...raw]).map((s) => s.trim());
  if (list.length === 0 || list.every((e) => e === "")) throw new ConfigError(variable, `no URL given; expected e.g. ${example}`);
  for (const [i, e] of list.entries()) if (e === "") throw new ConfigError(variable, `entry ${i + 1} is empty (a stray comma?)`);
  return list;
}

/**
 * Checks what an entry must not carry: credentials (URLs reach logs and
 * error messages; the token goes in PULSAR_JWT_TOKEN), a path, a query.
 */
function parse(variable: string, entry: string, i: number, expected: string): URL {
  let url: URL;
  try {
    url = new URL(entry);
  } catch {
    throw new ConfigError(variable, `${JSON.stringify(entry)} is not a valid URL; expected ${expected}`);
  }
  if (url.username !== "" || url.password !== "") {
    throw new ConfigError(variable, `entry ${i + 1} carries credentials in the URL; put the token in PULSAR_JWT_TOKEN instead (URLs end up in logs)`);
  }
  if (url.hostname === "") throw new ConfigError(variable, `entry ${i + 1} has no host`);
  if ((url.pathname !== "" && url.pathname !== "/") || url.search !== "" || url.hash !== "") {
    throw new ConfigError(variable, `${JSON.stringify(entry)} has a path or query; expected only scheme://host:port`);
  }
  return url;
}

/**
 * MQ_NAME_SERVER: the broker's binary-protocol URLs, as Coze deployments set
 * them (`pulsar://pulsar:6650`, or a comma list of brokers). This transport
 * speaks the broker's web service (WebSocket + REST), so the list is used to
 * validate the deployment's setting and to derive the web service's hosts.
 * A bare `host:port` means `pulsar://host:port`.
 */
export function parseServiceUrls(variable: string, raw: string | readonly string[]): ServiceUrls {
  const urls: string[] = [];
  const hosts: string[] = [];
  const schemes = new Set<string>();
  for (const [i, entry] of entries(variable, raw, "pulsar://127.0.0.1:6650").entries()) {
    const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(entry) ? entry : `pulsar://${entry}`;
    const url = parse(variable, withScheme, i, "pulsar://host:6650 or pulsar+ssl://host:6651");
    const scheme = url.protocol.slice(0, -1).toLowerCase();
    if (scheme !== "pulsar" && scheme !== "pulsar+ssl") {
      throw new ConfigError(variable, `${JSON.stringify(`${scheme}://`)} is not supported; use pulsar:// or pulsar+ssl:// (entry ${i + 1})`);
    }
    const port = url.port === "" ? (scheme === "pulsar" ? 6650 : 6651) : Number(url.port);
    schemes.add(scheme);
    urls.push(`${scheme}://${url.hostname}:${port}`);
    hosts.push(url.hostname);
  }
  if (schemes.size > 1) throw new ConfigError(variable, "mixes pulsar:// and pulsar+ssl:// brokers; a cluster is either all TLS or none");
  return { urls, tls: schemes.has("pulsar+ssl"), hosts };
}

/** PULSAR_WEB_SERVICE_URL: `http://host:8080` / `https://host:8443`, comma list allowed (tried in order). */
export function parseWebServiceUrls(variable: string, raw: string | readonly string[]): { urls: string[]; tls: boolean } {
  const urls: string[] = [];
  const schemes = new Set<string>();
  for (const [i, entry] of entries(variable, raw, "http://127.0.0.1:8080").entries()) {
    const url = parse(variable, entry, i, "http://host:8080 or https://host:8443");
    const scheme = url.protocol.slice(0, -1).toLowerCase();
    if (scheme !== "http" && scheme !== "https") {
      throw new ConfigError(variable, `${JSON.stringify(`${scheme}://`)} is not supported; use http:// or https:// (entry ${i + 1})`);
    }
    const port = url.port === "" ? (scheme === "http" ? 80 : 443) : Number(url.port);
    schemes.add(scheme);
    urls.push(`${scheme}://${url.host.replace(/:\d+$/, "")}:${port}`);
  }
  if (schemes.size > 1) throw new ConfigError(variable, "mixes http:// and https://; the web service is either all TLS or none");
  return { urls, tls: schemes.has("https") };
}

/** The web service of each broker host: Pulsar's default ports, 8080 (http) or 8443 (https for pulsar+ssl). */
export function deriveWebServiceUrls(service: ServiceUrls): string[] {
  return service.hosts.map((h) => (service.tls ? `https://${bracket(h)}:8443` : `http://${bracket(h)}:8080`));
}

function bracket(host: string): string {
  return host.includes(":") && !host.startsWith("[") ? `[${host}]` : host;
}

/** `http://h:8080` -> `ws://h:8080/ws/v2`. */
export function webSocketBase(webUrl: string): string {
  return webUrl.replace(/^http/, "ws") + "/ws/v2";
}
