/** Thrown when a tool that `startPulsar()` needs (Java 17+, or Maven on a first run) is missing or unusable. */
export class PulsarPrerequisiteError extends Error {
  override readonly name = "PulsarPrerequisiteError";
  constructor(
    /** `java` or `mvn`. */
    readonly tool: "java" | "mvn",
    /** What was tried and why it did not do. */
    readonly problem: string,
    /** The command that fixes it on Debian/Ubuntu. */
    readonly fix: string,
  ) {
    super(`${problem}. Fix: ${fix}`);
  }
}

/** Thrown when Maven cannot resolve Pulsar's artifacts; carries the command to rerun by hand and Maven's last words. */
export class PulsarResolveError extends Error {
  override readonly name = "PulsarResolveError";
  constructor(
    readonly command: string,
    readonly output: string,
  ) {
    super(`resolving Apache Pulsar with Maven failed. Run it by hand to see why:\n  ${command}\nlast lines:\n${output}`);
  }
}

/** Thrown when the broker process exits or stays unhealthy during start-up; `logs` has its output. */
export class PulsarStartError extends Error {
  override readonly name = "PulsarStartError";
  constructor(
    message: string,
    readonly logs: string,
  ) {
    super(message);
  }
}
