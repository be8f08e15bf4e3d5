import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const pascal = (s: string): string => s.split("_").map((p) => p.charAt(0).toUpperCase() + p.slice(1)).join("");
const camel = (s: string): string => s.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());

/**
 * Creates the package of a new domain the first time codegen meets it, so a
 * whole domain is a schema folder plus one line of codegen.config.json. Only
 * writes files that do not exist; after that the package is the team's
 * (src/index.ts stays a thin hand-written file, src/gen is codegen's).
 */
export function scaffoldPackage(root: string, domain: string, packageDir: string, protoPath: string): string[] {
  const dir = join(root, packageDir);
  const name = `@cozebus/${domain.replace(/_/g, "-")}`;
  const fn = camel(domain);
  const files: Record<string, string> = {
    "package.json":
      JSON.stringify(
        {
          name,
          version: "0.0.0",
          description: `Typed ${domain} events and request/reply operations for cozebus (generated from schemas/${protoPath}).`,
          license: "Apache-2.0",
          type: "module",
          engines: { node: ">=20.11" },
          exports: { ".": { types: "./dist/index.d.ts", import: "./dist/index.js" }, "./catalog.json": "./dist/gen/catalog.json", "./package.json": "./package.json" },
          main: "./dist/index.js",
          types: "./dist/index.d.ts",
          files: ["dist", "!dist/**/*.map", "README.md", "LICENSE", "CHANGELOG.md"],
          sideEffects: false,
          scripts: {
            build: "tsc -p tsconfig.build.json && node -e \"require('fs').copyFileSync('src/gen/catalog.json','dist/gen/catalog.json')\"",
            typecheck: "tsc -p tsconfig.json --noEmit",
            lint: "eslint src",
          },
          dependencies: { "@bufbuild/protobuf": "^2.17.0", "@cozebus/core": "^0.1.0" },
        },
        null,
        2,
      ) + "\n",
    "tsconfig.json": JSON.stringify({ extends: "../../tsconfig.base.json", compilerOptions: { rootDir: ".", noEmit: true }, include: ["src", "test"] }, null, 2) + "\n",
    "tsconfig.build.json": JSON.stringify({ extends: "../../tsconfig.base.json", compilerOptions: { rootDir: "src", outDir: "dist" }, include: ["src"] }, null, 2) + "\n",
    "src/index.ts": [
      "/**",
      ` * ${name} — typed ${domain} events. Everything under ./gen is generated from`,
      ` * schemas/${protoPath}; this file only names the client.`,
      " */",
      'import { createRequire } from "node:module";',
      'import { domainClient, type DomainClient, type DomainEvent, type TransportLike } from "@cozebus/core";',
      `import { ${fn}Domain } from "./gen/${domain}.events.js";`,
      "",
      "// Recorded in the streams this build provisions, so operators see which versions share them (rolling upgrades).",
      'const pkg = createRequire(import.meta.url)("../package.json") as { name: string; version: string };',
      "",
      `export * from "./gen/${protoPath}/v1/${domain}.js";`,
      `export { ${fn}Domain };`,
      "",
      `/** The ${domain} domain's typed events and operations on a bus (any transport: NATS, Pulsar). */`,
      `export function ${fn}(bus: TransportLike): DomainClient<typeof ${fn}Domain> {`,
      `  return domainClient(bus, ${fn}Domain, { build: \`\${pkg.name}@\${pkg.version}\` });`,
      "}",
      "",
      `/** Any ${domain} event, discriminated by \`type\` (for \`subscribeAll\`). */`,
      `export type ${pascal(domain)}Event = DomainEvent<typeof ${fn}Domain>;`,
      "",
    ].join("\n"),
    "README.md": `# ${name}\n\nTyped ${domain} events for cozebus, generated from \`schemas/${protoPath}\`. The catalogue is in [src/gen/EVENTS.md](src/gen/EVENTS.md).\n\n\`\`\`ts\nimport { connect } from "@cozebus/nats";\nimport { ${fn} } from "${name}";\n\nconst client = ${fn}(await connect());\nawait client.provision();\n\`\`\`\n`,
  };
  const written: string[] = [];
  for (const [file, content] of Object.entries(files)) {
    const path = join(dir, file);
    if (existsSync(path)) continue;
    mkdirSync(join(path, ".."), { recursive: true });
    writeFileSync(path, content);
    written.push(join(packageDir, file));
  }
  return written;
}
