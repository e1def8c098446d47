// The Temporal SDK's Runtime logger, backed by a pino logger so the emergency log level reaches what
// workflows (workflow.log), activities (activity.log) and the SDK itself write. SDK levels are mapped
// one step down (INFO -> debug): the SDK's INFO output is mostly webpack bundle statistics and one line
// per activity, which production at `info` has never shown; at `debug` it appears, as before.
// The Rust core's own filter (telemetryOptions.logging.filter) is fixed when the Runtime is installed;
// its WARN and ERROR lines still come through here.
import type { LogLevel, LogMetadata, Logger as SdkLogger } from '@temporalio/worker';
import type { Logger } from 'pino';

const TO_PINO: Record<LogLevel, 'trace' | 'debug' | 'warn' | 'error'> = {
  TRACE: 'trace',
  DEBUG: 'trace',
  INFO: 'debug',
  WARN: 'warn',
  ERROR: 'error',
};

export class PinoSdkLogger implements SdkLogger {
  constructor(readonly pino: Logger) {}

  log(level: LogLevel, message: string, meta?: LogMetadata): void {
    const target = TO_PINO[level] ?? 'info';
    if (!this.pino.isLevelEnabled(target)) return;
    this.pino[target]({ ...meta }, message);
  }
  trace(message: string, meta?: LogMetadata): void {
    this.log('TRACE', message, meta);
  }
  debug(message: string, meta?: LogMetadata): void {
    this.log('DEBUG', message, meta);
  }
  info(message: string, meta?: LogMetadata): void {
    this.log('INFO', message, meta);
  }
  warn(message: string, meta?: LogMetadata): void {
    this.log('WARN', message, meta);
  }
  error(message: string, meta?: LogMetadata): void {
    this.log('ERROR', message, meta);
  }
}
