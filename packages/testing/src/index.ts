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
