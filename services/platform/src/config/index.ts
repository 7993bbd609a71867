export { BaseConfigSchema } from './base-config.ts'
export { type BaseConfig, ConfigError, loadConfig } from './load-config.ts'
