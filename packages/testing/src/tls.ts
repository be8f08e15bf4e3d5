import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface TlsFixtures extends Disposable {
  readonly dir: string;
  /** The CA that signed the server and client certificates. */
  readonly caFile: string;
  /** Server certificate for 127.0.0.1 and localhost. */
  readonly serverCertFile: string;
  readonly serverKeyFile: string;
  /** Client certificate for mutual TLS, signed by `caFile`. */
  readonly clientCertFile: string;
  readonly clientKeyFile: string;
  /** A CA that signed nothing here: trusting it must make the handshake fail. */
  readonly otherCaFile: string;
  remove(): void;
}

function openssl(args: readonly string[], cwd: string): void {
  try {
    execFileSync("openssl", args, { cwd, stdio: ["ignore", "ignore", "pipe"] });
  } catch (err) {
    const stderr = (err as { stderr?: Buffer }).stderr?.toString() ?? "";
    if ((err as NodeJS.ErrnoException).code === "ENOENT") {
      throw new Error('openssl was not found: install it (Debian/Ubuntu: "apt-get install openssl") to create TLS fixtures');
    }
    throw new Error(`openssl ${args[0]} failed: ${stderr.trim()}`);
  }
}

/**
 * Creates a throwaway CA, a server certificate for 127.0.0.1/localhost and a
 * client certificate, with the system's openssl, in a temp folder.
 */
export function createTlsFixtures(): TlsFixtures {
  const dir = mkdtempSync(join(tmpdir(), "cozebus-tls-"));
  const p = (f: string): string => join(dir, f);
  const ca = (name: string): void => {
    openssl(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", `/CN=${name}`,
      "-keyout", p(`${name}.key`), "-out", p(`${name}.pem`)], dir);
  };
  const leaf = (name: string, ext: string): void => {
    openssl(["req", "-newkey", "rsa:2048", "-nodes", "-subj", `/CN=${name}`, "-keyout", p(`${name}-key.pem`), "-out", p(`${name}.csr`)], dir);
    writeFileSync(p(`${name}.ext`), ext);
    openssl(["x509", "-req", "-in", p(`${name}.csr`), "-CA", p("ca.pem"), "-CAkey", p("ca.key"), "-CAcreateserial",
      "-days", "2", "-extfile", p(`${name}.ext`), "-out", p(`${name}.pem`)], dir);
  };
  try {
    ca("ca");
    ca("other-ca");
    leaf("server", "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n");
    leaf("client", "extendedKeyUsage=clientAuth\n");
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  const remove = (): void => rmSync(dir, { recursive: true, force: true });
  return {
    dir,
    caFile: p("ca.pem"),
    serverCertFile: p("server.pem"),
    serverKeyFile: p("server-key.pem"),
    clientCertFile: p("client.pem"),
    clientKeyFile: p("client-key.pem"),
    otherCaFile: p("other-ca.pem"),
    remove,
    [Symbol.dispose]: remove,
  };
}
