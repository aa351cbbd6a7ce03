import { readdir, stat as statFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { CycleContext, HostCollector } from '../collector.js';
import { type Family, type Sample, family } from '../exposition.js';
import { parseExposition } from '../parse.js';

/** A textfile, as node_exporter accepts it: counters, gauges and untyped samples, no timestamps. */
export function parseTextfile(text: string): Family[] {
  return parseExposition(text, { timestamps: 'reject', types: ['counter', 'gauge', 'untyped'] });
}


/**
 * node_exporter's textfile collector: every *.prom file in `collection.textfile.directory`
 * (cron jobs and scripts write them), with node_textfile_mtime_seconds per file and
 * node_textfile_scrape_error 1 when any file cannot be read or parsed.
 */
export const textfile: HostCollector = {
  name: 'textfile',
  async collect(ctx: CycleContext): Promise<Family[]> {
    const dir = ctx.opts.textfileDirectory;
    const out: Family[] = [];
    let error = 0;
    const mtimes: Sample[] = [];
    if (dir) {
      let names: string[] = [];
      try {
        names = (await readdir(dir)).filter((n) => n.endsWith('.prom')).sort();
      } catch {
        error = 1;
      }
      for (const name of names) {
        const path = join(dir, name);
        try {
          const [text, st] = await Promise.all([ctx.read(path), statFile(path)]);
          out.push(...parseTextfile(text).filter((f) => !f.name.startsWith('node_textfile_')));
          mtimes.push({ labels: { file: path }, value: Math.floor(st.mtimeMs / 1000) });
        } catch {
          error = 1;
        }
      }
    }
    out.push(family('node_textfile_mtime_seconds', 'Unixtime mtime of textfiles successfully read.', 'gauge', mtimes));
    out.push(family('node_textfile_scrape_error', '1 if there was an error opening or reading a file, 0 otherwise', 'gauge', error));
    return out;
  },
};
