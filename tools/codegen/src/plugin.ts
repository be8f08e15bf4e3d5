#!/usr/bin/env node
/**
 * protoc-gen-cozebus: the protoc/buf plugin half of codegen. Reads a
 * CodeGeneratorRequest on stdin, validates every event and operation, and
 * writes the domain module, catalog.json and EVENTS.md. Any schema problem
 * fails the whole run, listing every problem with its file and message.
 * Warnings (the schema builds, but should change) go to stderr, one
 * `WARNING: <file>: <message>: ...` line each.
 * Parameter: `package=<npm package name>` (for the catalogue).
 */
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { CodeGeneratorRequestSchema, CodeGeneratorResponseSchema, CodeGeneratorResponse_Feature, CodeGeneratorResponse_FileSchema } from "@bufbuild/protobuf/wkt";
import { formatProblem, formatWarning } from "./model.js";
import { readSchemas } from "./read-schemas.js";
import { renderCatalog, renderDomainModule, renderMarkdown } from "./render.js";

async function readStdin(): Promise<Uint8Array> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return new Uint8Array(Buffer.concat(chunks));
}

const request = fromBinary(CodeGeneratorRequestSchema, await readStdin());
const params = new Map(request.parameter.split(",").filter(Boolean).map((kv) => kv.split("=") as [string, string]));
const { domains, problems, warnings } = readSchemas(request.protoFile, request.fileToGenerate);
for (const w of warnings) process.stderr.write(`${formatWarning(w)}\n`);
const response = create(CodeGeneratorResponseSchema, { supportedFeatures: BigInt(CodeGeneratorResponse_Feature.PROTO3_OPTIONAL) });
if (problems.length > 0) {
  response.error = `${problems.length} schema problem(s):\n${problems.map(formatProblem).join("\n")}`;
} else {
  for (const d of domains) {
    const pkg = params.get("package") ?? `@cozebus/${d.name}`;
    response.file.push(
      create(CodeGeneratorResponse_FileSchema, { name: `${d.name}.events.ts`, content: renderDomainModule(d) }),
      create(CodeGeneratorResponse_FileSchema, { name: "catalog.json", content: renderCatalog(d, pkg) }),
      create(CodeGeneratorResponse_FileSchema, { name: "EVENTS.md", content: renderMarkdown(d, pkg) }),
    );
  }
}
process.stdout.write(toBinary(CodeGeneratorResponseSchema, response));
