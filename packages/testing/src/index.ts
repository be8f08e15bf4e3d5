export { startNatsServer, startNatsCluster } from "./server.js";
export type { NatsServer, NatsServerOptions, NatsCluster, NatsClusterOptions } from "./server.js";
export { findNatsServerBinary, NatsServerNotFoundError } from "./binary.js";
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
