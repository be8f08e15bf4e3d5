import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import mysql from "mysql2/promise";
import { startMariadb } from "../src/index.js";
import { goneWithin } from "./process-state.js";

const cleanup: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c().catch(() => undefined);
});

describe("startMariadb", () => {
  it("runs a real server on a random loopback port in its own folder; the user needs its password; a SIGKILLed server starts again with its data; stop() removes it all", async () => {
    const db = await startMariadb();
    cleanup.push(() => db.stop());
    expect(db.host).toBe("127.0.0.1");
    expect(db.port).not.toBe(3306);
    expect(db.url).toBe(`mysql://cozebus:${encodeURIComponent(db.password)}@127.0.0.1:${db.port}/cozebus`);
    expect(db.socket.startsWith(db.dir)).toBe(true);
    expect(db.version).toMatch(/MariaDB/);
    const conn = await mysql.createConnection(db.url);
    const [rows] = await conn.query<mysql.RowDataPacket[]>("SELECT DATABASE() AS db, CURRENT_USER() AS who, VERSION() AS v");
    expect(rows[0]).toMatchObject({ db: "cozebus", who: "cozebus@127.0.0.1" });
    await conn.query("CREATE TABLE kept (n INT PRIMARY KEY) ENGINE=InnoDB");
    await conn.query("INSERT INTO kept VALUES (1), (2)");
    await conn.end();
    await expect(mysql.createConnection({ host: "127.0.0.1", port: db.port, user: "cozebus", password: "wrong", database: "cozebus" })).rejects.toThrow(/Access denied/);

    await db.kill("SIGKILL");
    expect(db.running).toBe(false);
    await db.start();
    const again = await mysql.createConnection(db.url);
    const [kept] = await again.query<mysql.RowDataPacket[]>("SELECT n FROM kept ORDER BY n");
    expect(kept.map((r) => r["n"] as number)).toEqual([1, 2]);
    await again.end();

    const pid = db.pid!;
    await db.stop();
    expect(existsSync(db.dir)).toBe(false);
    expect(await goneWithin(pid, 10_000)).toBe(true);
    await db.stop(); // twice is fine
  });

  it("a test process that exits without stop() takes the server and its folder with it", async () => {
    const script = fileURLToPath(new URL("./fixtures/abandon-mariadb.mjs", import.meta.url));
    const run = spawnSync(process.execPath, [script], { encoding: "utf8", timeout: 60_000 });
    expect(run.status, run.stderr).toBe(0);
    const { dir, pid } = JSON.parse(run.stdout.trim()) as { dir: string; pid: number };
    expect(pid).toBeGreaterThan(0);
    expect(existsSync(dir)).toBe(false);
    expect(await goneWithin(pid, 10_000)).toBe(true);
  });
});
