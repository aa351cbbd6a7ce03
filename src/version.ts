import { readFileSync } from 'node:fs';

/** The package version, read once from package.json (one source of truth for --version and build_info). */
function readVersion(): string {
  for (const rel of ['../package.json', '../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(rel, import.meta.url), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'promedic' && pkg.version) return pkg.version;
    } catch {
      // try the next location: src/ when run from source, dist/src/ when built
    }
  }
  return '0.0.0';
}

export const VERSION = readVersion();
