// The config layer's public face: load a manifest into validated, parsed values.
export { loadManifest, type LoadedManifest, type ManifestResult, type LoadOptions } from './load';
export { formatIssue, type ConfigIssue } from './issues';
export { resolveManifestPath, type ManifestPath } from './manifest-path';
export { manifestJsonSchema, type Manifest, type ServiceConfig, type SettingsConfig } from './schema';
export { interpolate, type Env } from './interpolate';
export { parseDuration, parseSize, parseHostPort } from './units';
