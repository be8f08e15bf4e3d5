import { spawnSync } from "node:child_process";
import { existsSync, statSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import pg from "pg";
import { findPostgresBinaries, startPostgres } from "../src/index.js";
import { goneWithin } from "./process-state.js";

const cleanup: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c().catch(() => undefined);
});

describe("startPostgres", () => {
  it("runs a real server on a random loopback port in its own folder; it answers queries, and stop() removes it all", async () => {
    const db = await startPostgres();
    cleanup.push(() => db.stop());
    expect(db.host).toBe("127.0.0.1");
    expect(db.port).not.toBe(5432);
    expect(db.url).toBe(`postgres://cozebus:${encodeURIComponent(db.password)}@127.0.0.1:${db.port}/cozebus`);
    expect(db.socketDir.startsWith(db.dir)).toBe(true);
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    const r = await client.query<{ db: string; who: string; addr: string; v: string }>(
      "select current_database() as db, current_user as who, host(inet_server_addr()) as addr, current_setting('server_version_num') as v",
    );
    expect(r.rows[0]).toMatchObject({ db: "cozebus", who: "cozebus", addr: "127.0.0.1" });
    expect(Math.floor(Number(r.rows[0]!.v) / 10_000)).toBe(db.major ?? findPostgresBinaries().major);
    await client.end();
    if (process.getuid?.() === 0) {
      // PostgreSQL refuses root: as root, the server runs under another uid, and owns its folder.
      expect(db.uid).not.toBe(0);
      expect(statSync(db.dir).uid).toBe(db.uid);
    }
    const pid = db.pid!;
    await db.stop();
    expect(db.running).toBe(false);
    expect(existsSync(db.dir)).toBe(false);
    expect(await goneWithin(pid, 10_000)).toBe(true);
    await db.stop(); // twice is fine
  });

  it("TCP needs the generated password", async () => {
    const db = await startPostgres({ database: "postgres" });
    cleanup.push(() => db.stop());
    const wrong = new pg.Client({ host: db.host, port: db.port, user: db.user, password: "not-it", database: db.database });
    await expect(wrong.connect()).rejects.toThrow(/password authentication failed/);
    await wrong.end().catch(() => undefined);
  });

  it("two servers never share a port or a folder; a SIGKILLed server starts again with its data", async () => {
    const [a, b] = await Promise.all([startPostgres(), startPostgres()]);
    cleanup.push(() => a.stop(), () => b.stop());
    expect(a.port).not.toBe(b.port);
    expect(a.dir).not.toBe(b.dir);
    let c = new pg.Client({ connectionString: a.url });
    await c.connect();
    await c.query("create table kept (n int); insert into kept values (42)");
    await c.end();
    await a.kill("SIGKILL");
    expect(a.running).toBe(false);
    await a.start();
    c = new pg.Client({ connectionString: a.url });
    await c.connect();
    expect((await c.query<{ n: number }>("select n from kept")).rows).toEqual([{ n: 42 }]);
    await c.end();
  });

  it("a test process that exits without stop() takes the server and its folder with it", async () => {
    const script = fileURLToPath(new URL("./fixtures/abandon-postgres.mjs", import.meta.url));
    const run = spawnSync(process.execPath, [script], { encoding: "utf8", timeout: 60_000 });
    expect(run.status).toBe(0);
    const { dir, pid } = JSON.parse(run.stdout.trim()) as { dir: string; pid: number };
    expect(pid).toBeGreaterThan(0);
    expect(existsSync(dir)).toBe(false);
    expect(await goneWithin(pid, 10_000)).toBe(true);
  });
});
