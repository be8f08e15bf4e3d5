export { startNatsServer, startNatsCluster } from "./server.js";
export type { NatsServer, NatsServerOptions, NatsCluster, NatsClusterOptions } from "./server.js";
export { findNatsServerBinary, resolveNatsServer, ensureNatsServer, NatsServerNotFoundError, NatsServerVersionMismatchError } from "./binary.js";
export type { NatsServerSelection, NatsServerPlan, NatsServerChoice, NatsServerOrigin, ResolvedNatsServer, EnsureOptions } from "./binary.js";
export { buildNatsServer, natsServerCacheDir, cachedNatsServerPath, NatsServerBuildError } from "./build.js";
export type { BuildOptions } from "./build.js";
export { DEBIAN_NATS_VERSION, PINNED_NATS_VERSIONS, DEFAULT_NATS_VERSION, NATS_TEST_MATRIX, parseNatsVersion, NatsServerVersionError } from "./versions.js";
export type { AskedVersion } from "./versions.js";
export { createTlsFixtures } from "./tls.js";
export type { TlsFixtures } from "./tls.js";
export { createNkeyUser, createOperatorSetup } from "./credentials.js";
export type { NkeyIdentity, JwtUser, OperatorSetup } from "./credentials.js";
export type {
  ServerAuth,
  ServerTls,
  ServerUser,
  PasswordUser,
  NkeyUser,
  AccountSpec,
  UserPermissions,
  SubjectRule,
  OperatorConfig,
} from "./config.js";
export { sleep, waitFor, silentLogger } from "./wait.js";
export { startPulsar } from "./pulsar/broker.js";
export type { PulsarBroker, PulsarOptions, PulsarAuth, PulsarAuthOptions } from "./pulsar/broker.js";
export { createPulsarSecretKey, createPulsarToken } from "./pulsar/token.js";
export type { PulsarTokenOptions } from "./pulsar/token.js";
export { PulsarPrerequisiteError, PulsarResolveError, PulsarStartError } from "./pulsar/errors.js";
export { DEFAULT_PULSAR_VERSION, defaultPulsarCacheDir } from "./pulsar/classpath.js";
export type { PulsarConfigValue } from "./pulsar/config.js";
export { startPostgres } from "./postgres/server.js";
export type { PostgresServer, PostgresOptions } from "./postgres/server.js";
export { findPostgresBinaries, PostgresNotFoundError } from "./postgres/binaries.js";
export type { PostgresBinaries } from "./postgres/binaries.js";
export { startMariadb, findMariadbBinaries, MariadbNotFoundError } from "./mariadb.js";
export type { MariadbServer, MariadbOptions } from "./mariadb.js";
export { startPrometheus, findPrometheusBinary, PrometheusNotFoundError } from "./prometheus.js";
export type { PrometheusServer, PrometheusOptions, PromSample, PrometheusTarget } from "./prometheus.js";
