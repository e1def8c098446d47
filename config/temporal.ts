// Connection settings for a Temporal dev server, a self-hosted cluster (optionally mTLS) or Temporal
// Cloud (API key or mTLS), shared by the API's client and the workers' native connection.
import { readFileSync } from 'node:fs';
import type { Env } from './env';
import { temporalAddress } from './env';

export interface TemporalConnectionSettings {
  address: string;
  namespace: string;
  apiKey?: string;
  tls?: { clientCertPair?: { crt: Buffer; key: Buffer }; serverRootCACertificate?: Buffer } | boolean;
}

export function temporalSettings(env: Env): TemporalConnectionSettings {
  const mtls =
    env.TEMPORAL_TLS_CERT_PATH && env.TEMPORAL_TLS_KEY_PATH
      ? { crt: readFileSync(env.TEMPORAL_TLS_CERT_PATH), key: readFileSync(env.TEMPORAL_TLS_KEY_PATH) }
      : undefined;
  const ca = env.TEMPORAL_TLS_CA_PATH ? readFileSync(env.TEMPORAL_TLS_CA_PATH) : undefined;
  const wantTls = env.TEMPORAL_TLS ?? Boolean(mtls || env.TEMPORAL_API_KEY || ca);
  return {
    address: temporalAddress(env),
    namespace: env.TEMPORAL_NAMESPACE,
    apiKey: env.TEMPORAL_API_KEY,
    tls: wantTls ? { ...(mtls ? { clientCertPair: mtls } : {}), ...(ca ? { serverRootCACertificate: ca } : {}) } : undefined,
  };
}
