/**
 * The guide's indexer (examples/indexer.ts) run for real: transpiled as it is,
 * started with a Coze deployment's environment, fed by Coze's Go producer,
 * stopped with SIGTERM. It imports the package by name, so it runs the built
 * package (turbo builds before testing).
 */
import { spawn } from "node:child_process";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import ts from "typescript";
import { afterEach, beforeEach, expect, it } from "vitest";
import { knowledgeEventCodec, knowledgeEvents } from "../src/index.js";
import { BIG_ID, fullDocument } from "./fixtures.js";
import { runGo } from "./go.js";
import { World, waitFor } from "./helpers.js";

let world: World;
beforeEach(async () => {
  world = await World.start(true);
});
afterEach(async () => {
  await world.stop();
});

it("the indexer of docs/coze-studio.md handles Coze's events and stops cleanly on SIGTERM", async () => {
  const source = readFileSync(new URL("../examples/indexer.ts", import.meta.url), "utf8");
  const js = ts.transpileModule(source, { compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 } }).outputText;
  // Beside the package, so that "@cozebus/coze-studio" resolves to it as it does for a user.
  const file = fileURLToPath(new URL(`./.indexer-${process.pid}.mjs`, import.meta.url));
  writeFileSync(file, js);
  try {
    const child = spawn(process.execPath, [file], { env: { PATH: process.env["PATH"] ?? "", ...world.env }, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (err += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on("close", (code) => resolve(code)));

    // It is live once its durable consumer exists; then Coze's Go producer sends.
    const bus = await world.bus();
    const jsm = (await bus.jetstream()).jsm;
    await waitFor("the indexer's consumer", async () => (await jsm.consumers.info("opencoze_knowledge_STREAM", "cg_search_mirror").then(() => true, () => false)) || child.exitCode !== null);
    const docs = [fullDocument(BIG_ID, 1n), fullDocument(BIG_ID + 1n, 1n)];
    await runGo(["produce", "-topic", "opencoze_knowledge"], world.env, [
      knowledgeEventCodec.encodeToString(knowledgeEvents.indexDocuments(1n, docs)),
      '{"Type":"index_document"}',
      knowledgeEventCodec.encodeToString(knowledgeEvents.deleteKnowledgeData(1n, [BIG_ID, 2n])),
    ]);
    await waitFor("the indexer's output", () => (out.includes("index_documents (delivery 1)") && out.includes("delete_knowledge_data (delivery 1)")) || child.exitCode !== null);
    child.kill("SIGTERM");
    expect(await exited).toBe(0);
    // concurrency 4: handlers interleave, so the order of lines is not fixed.
    expect(out.trim().split("\n").filter((l) => !l.startsWith("[cozebus] ")).sort()).toEqual([
      `upsert document ${BIG_ID} (tos://bucket/doc.xlsx)`,
      `upsert document ${BIG_ID + 1n} (tos://bucket/doc.xlsx)`,
      "index_documents (delivery 1)",
      `delete 2 slice(s) of knowledge 1`,
      "delete_knowledge_data (delivery 1)",
    ].sort());
    expect(out).toContain("[cozebus] drained; bye");
    // The index_document without a document: NonRetryableError, acked and dropped, reported.
    expect(err).toMatch(/\[cozebus coze-studio\] message on opencoze_knowledge \(group cg_search_mirror\) dropped: .*no document/);
  } finally {
    rmSync(file, { force: true });
  }
});
