/**
 * The Coze Studio part of `cozebus doctor`: @cozebus/coze-studio's checks
 * of Coze's legacy bus (its environment, topics, groups, and where cozebus's
 * settings differ from the Go side's), as doctor findings. It runs with
 * --coze-studio, or by itself when the broker holds one of Coze's topics
 * (Pulsar) or streams (JetStream); core NATS keeps nothing to detect, so
 * there it needs the flag.
 */
import { COZE_TOPICS, checkCozeStudio, checkCozeStudioPulsar, streamNameOf, type CozeCheck } from "@cozebus/coze-studio";
import type { Admin } from "@cozebus/pulsar";
import type { Bus } from "@cozebus/nats";
import type { DoctorFlags, Finding } from "./doctor.js";

const FIX = {
  env: "set the variable as Coze's Go services read it (docs/coze-studio.md, \"The environment it already has\")",
  pulsar: "docs/coze-studio.md (\"Pulsar differences\") says what each side does and what to change",
  nats: "docs/coze-studio.md (\"Known differences\", \"Checking a deployment\") says what each side does and what to change",
} as const;

function report(checks: readonly CozeCheck[], fix: string, out: (f: Finding) => void): void {
  for (const c of checks) {
    const f: Finding = { check: "coze-studio", status: c.status, detail: `${c.subject}: ${c.message}` };
    out(c.status === "warn" || c.status === "fail" ? { ...f, fix: c.subject.startsWith("env ") ? FIX.env : fix } : f);
  }
}

/** Pulsar: when asked, or when public/default holds one of Coze's topics (`opencoze_*`). */
export async function doctorCozePulsar(admin: Admin, flags: DoctorFlags, out: (f: Finding) => void): Promise<void> {
  if (!flags.cozeStudio) {
    const topics = await admin.topics("public", "default").catch(() => [] as string[]);
    if (!topics.some((t) => COZE_TOPICS.some((c) => t.replace(/-partition-\d+$/, "") === `persistent://public/default/${c.topic}`))) return;
  }
  const { checks } = await checkCozeStudioPulsar(admin);
  report(checks, FIX.pulsar, out);
}

/** NATS: when asked, or when JetStream holds one of Coze's streams (`opencoze_*_STREAM`). */
export async function doctorCozeNats(bus: Bus, flags: DoctorFlags, jetstream: boolean, out: (f: Finding) => void): Promise<void> {
  if (!flags.cozeStudio) {
    if (!jetstream) return;
    const js = await bus.jetstream().catch(() => undefined);
    if (js === undefined) return;
    const found = await Promise.all(COZE_TOPICS.map((t) => js.jsm.streams.info(streamNameOf(t.topic)).then(() => true, () => false)));
    if (!found.includes(true)) return;
  }
  const { checks } = await checkCozeStudio(bus);
  report(checks, FIX.nats, out);
}
