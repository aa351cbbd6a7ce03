/** The only list of action types. Adding one is one file and one line here. */
import { config } from './config.js';
import { exec } from './exec.js';
import { http } from './http.js';
import { notify } from './notify.js';
import { query } from './query.js';
import { signal } from './signal.js';
import type { ActionType } from './types.js';
import { wait } from './wait.js';

export const ACTIONS: ReadonlyMap<string, ActionType> = new Map(
  [http, exec, signal, config, wait, query, notify].map((a) => [a.type, a]),
);

export type { ActionContext, ActionResult, ActionType, Problem } from './types.js';
export { ActionError } from './types.js';
