import { waitFor } from "@cozebus/testing";
import { runCli, type Run } from "./run-cli.js";

export interface ConsoleProcess {
  readonly url: string;
  readonly run: ReturnType<typeof runCli>;
  /** SIGTERM, then the exit (the console closes its tails and drains). */
  stop(): Promise<Run>;
}

/** Starts `cozebus console` as a user would and waits for the "console at <url>" line on stderr. */
export async function startConsoleProcess(args: readonly string[], env: Record<string, string | undefined>): Promise<ConsoleProcess> {
  const run = runCli(["console", "--port", "0", ...args], env);
  let exited: Run | undefined;
  void run.then((r) => (exited = r));
  await waitFor("cozebus console to print its address", () => exited !== undefined || /console at http:\/\/\S+/.test(run.stderrText()), 20_000);
  if (exited !== undefined) throw new Error(`cozebus console exited with ${exited.code}: ${exited.stderr}`);
  const url = /console at (http:\/\/\S+?)\/?(?:\s|;)/.exec(run.stderrText())![1]!;
  return {
    url,
    run,
    stop: async () => {
      if (exited === undefined) run.kill("SIGTERM");
      return run;
    },
  };
}
