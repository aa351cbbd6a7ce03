/**
 * How far automation may go: `observe` and `dry-run` record what would run (every template
 * rendered) and execute nothing, `enforce` acts. `automation.mode` sets it for every playbook
 * that does not set its own `mode:`, so promedic is adopted in observe and graduated playbook
 * by playbook; `engine.dry_run` stays a hard switch that turns
 * every enforce into dry-run, whatever the playbook says.
 */
export type Mode = 'enforce' | 'dry-run' | 'observe';

export function effectiveMode(playbookMode: Mode | undefined, config: { automation: { mode: Mode }; engine: { dry_run: boolean } }): Mode {
  const m = playbookMode ?? config.automation.mode;
  return config.engine.dry_run && m === 'enforce' ? 'dry-run' : m;
}
