/**
 * The status page at /: one HTML page, a stylesheet and a small script, no framework. The
 * script reads GET /api/v1/status every 5 s and draws it; pause and resume post to the API.
 * With credentials configured it asks for the token once and keeps it in sessionStorage.
 * Everything from the API is put in the page as text (textContent), never as HTML, and the
 * Content-Security-Policy allows only these three files.
 */
export const PAGE_CSP = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

export const PAGE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>promedic</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/status.css">
<script src="/status.js" defer></script>
</head>
<body>
<header>
  <h1>promedic</h1>
  <span id="mode" class="badge">loading…</span>
  <span id="emergency" class="badge bad" hidden>EMERGENCY</span>
  <button id="toggle" type="button" disabled>Pause</button>
</header>
<form id="login" hidden>
  <label for="token">Token</label>
  <input id="token" type="password" autocomplete="current-password" placeholder="bearer token">
  <button type="submit">Sign in</button>
  <p id="login-error" class="bad"></p>
</form>
<main id="content" hidden>
  <section><h2>Systems</h2><table id="systems"></table></section>
  <section><h2>Last hour</h2><p id="hour"></p></section>
  <section><h2>Active alerts</h2><table id="alerts"></table></section>
  <section><h2>Runs</h2><table id="runs"></table></section>
  <section><h2>Strategy success</h2><table id="strategies"></table></section>
  <section><h2>Tuning experiments</h2><table id="experiments"></table></section>
  <section><h2>Suspended</h2><table id="suspended"></table></section>
</main>
<footer id="footer"></footer>
</body>
</html>
`;

export const PAGE_CSS = `:root { color-scheme: light dark; --ok: #1a7f37; --bad: #cf222e; --warn: #9a6700; --muted: #6e7781; }
* { box-sizing: border-box; }
[hidden] { display: none !important; }
body { font: 15px/1.4 system-ui, sans-serif; margin: 0 auto; max-width: 960px; padding: 0.5rem 0.75rem 2rem; }
header { display: flex; flex-wrap: wrap; align-items: center; gap: 0.5rem; border-bottom: 1px solid var(--muted); padding-bottom: 0.5rem; }
h1 { font-size: 1.3rem; margin: 0 auto 0 0; }
h2 { font-size: 1.05rem; margin: 1.2rem 0 0.4rem; }
.badge { border-radius: 1rem; padding: 0.1rem 0.6rem; border: 1px solid currentColor; font-size: 0.85rem; }
.ok { color: var(--ok); } .bad { color: var(--bad); } .warn { color: var(--warn); } .muted { color: var(--muted); }
button { font: inherit; padding: 0.35rem 0.9rem; border-radius: 0.4rem; border: 1px solid var(--muted); cursor: pointer; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 0.25rem 0.4rem; border-bottom: 1px solid rgba(127,127,127,0.25); vertical-align: top; overflow-wrap: break-word; }
td.long { overflow-wrap: anywhere; }
th { font-weight: 600; font-size: 0.85rem; }
form { margin: 1rem 0; display: flex; flex-wrap: wrap; gap: 0.5rem; align-items: center; }
input { font: inherit; padding: 0.3rem; min-width: 14rem; }
footer { margin-top: 1.5rem; font-size: 0.8rem; color: var(--muted); }
@media (max-width: 600px) { th.wide, td.wide { display: none; } }
`;

export const PAGE_JS = `'use strict';
(() => {
  const $ = (id) => document.getElementById(id);
  let token = sessionStorage.getItem('promedic-token') || '';
  let paused = false;

  function el(tag, text, cls) {
    const e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = String(text);
    if (cls) e.className = cls;
    return e;
  }
  function table(id, head, rows, empty) {
    const t = $(id);
    t.replaceChildren();
    if (!rows.length) {
      const tr = el('tr');
      tr.append(el('td', empty, 'muted'));
      t.append(tr);
      return;
    }
    const hr = el('tr');
    for (const h of head) hr.append(el('th', h[0], h[1] || ''));
    t.append(hr);
    for (const r of rows) {
      const tr = el('tr');
      r.forEach((c, i) => {
        const td = el('td', c && typeof c === 'object' ? c.text : c, (c && typeof c === 'object' ? c.cls : '') + ' ' + (head[i][1] || ''));
        tr.append(td);
      });
      t.append(tr);
    }
  }
  const labels = (l) => Object.entries(l || {}).filter(([k]) => k !== 'alertname').map(([k, v]) => k + '=' + v).join(', ');
  const ago = (iso) => {
    if (!iso) return '';
    const s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
    return s < 90 ? s + ' s ago' : s < 5400 ? Math.round(s / 60) + ' min ago' : Math.round(s / 3600) + ' h ago';
  };
  const stateCls = { up: 'ok', disabled: 'muted', paused: 'warn', degraded: 'warn', down: 'bad' };
  const runCls = { succeeded: 'ok', failed: 'bad', interrupted: 'bad', cancelled: 'warn', running: 'warn', verifying: 'warn', planned: 'muted' };

  async function api(method, path) {
    const headers = token ? { authorization: 'Bearer ' + token } : {};
    const res = await fetch(path, { method, headers });
    if (res.status === 401) {
      showLogin(token ? 'that token was refused' : '');
      throw new Error('unauthorized');
    }
    if (!res.ok) throw new Error(method + ' ' + path + ': ' + res.status);
    return res.json();
  }

  function showLogin(message) {
    $('content').hidden = true;
    $('login').hidden = false;
    $('login-error').textContent = message;
    $('toggle').disabled = true;
  }

  function render(s) {
    $('login').hidden = true;
    $('content').hidden = false;
    paused = s.automation.paused;
    const mode = $('mode');
    mode.textContent = paused ? 'paused' : s.automation.mode === 'enforce' ? 'active' : s.automation.mode + (s.automation.enforcing ? ' (' + s.automation.enforcing + ' enforce)' : '');
    mode.className = 'badge ' + (paused ? 'warn' : s.automation.mode === 'enforce' ? 'ok' : 'muted');
    $('emergency').hidden = !s.automation.emergency.active;
    $('emergency').textContent = 'EMERGENCY: ' + s.automation.emergency.alerts.join(', ');
    const toggle = $('toggle');
    toggle.disabled = false;
    toggle.textContent = paused ? 'Resume' : 'Pause';
    table('systems', [['system'], ['state'], ['detail', 'long']], Object.entries(s.systems).map(([name, sys]) => [name, { text: sys.state, cls: stateCls[sys.state] || '' }, sys.detail]), '');
    const h = s.last_hour;
    $('hour').textContent = h.alerts + ' alerts, ' + h.runs + ' runs (' + h.succeeded + ' verified, ' + h.failed + ' failed, ' + h.rollbacks + ' rolled back), ' + h.experiments + ' experiments (' + h.kept + ' kept, ' + h.rolled_back + ' rolled back)';
    table('alerts', [['alert'], ['labels', 'wide long'], ['severity'], ['since']], [
      ...s.alerts.firing.map((a) => [{ text: a.alertname, cls: 'bad' }, labels(a.labels), a.severity, ago(a.since)]),
      ...s.alerts.pending.map((a) => [{ text: a.alertname + ' (pending)', cls: 'warn' }, labels(a.labels), '', ago(a.since)]),
    ], 'no alerts firing');
    const runs = [...s.runs.in_flight.filter((r) => !s.runs.recent.some((x) => x.id === r.id)), ...s.runs.recent];
    table('runs', [['playbook / strategy'], ['alert', 'wide'], ['outcome'], ['failed step', 'long'], ['started']], runs.map((r) => [
      r.playbook + ' / ' + r.strategy,
      r.alertname,
      { text: r.status, cls: runCls[r.status] || '' },
      r.failed_step ? (r.failed_step.name ? r.failed_step.name + ': ' : '') + r.failed_step.error : '',
      ago(r.started_at),
    ]), 'no runs yet');
    table('strategies', [['playbook / strategy'], ['verified'], ['success']], s.strategies.map((x) => [
      x.playbook + ' / ' + x.strategy,
      x.successes + ' of ' + (x.successes + x.failures),
      x.success_ratio === null ? '' : { text: Math.round(x.success_ratio * 100) + ' %', cls: x.success_ratio >= 0.5 ? 'ok' : 'bad' },
    ]), 'no verified outcomes yet');
    table('experiments', [['target / knob'], ['change'], ['phase'], ['started']], s.experiments.running.map((e) => [e.target + ' / ' + e.knob, e.from + ' → ' + e.to, e.phase, ago(e.startedAt)]), 'none running');
    table('suspended', [['playbook'], ['target', 'wide long'], ['until'], ['why', 'long']], s.suspended.map((x) => [x.playbook, x.target, x.until, x.reason]), 'nothing suspended');
    $('footer').textContent = 'promedic ' + s.version + ', up ' + Math.round(s.uptime_seconds / 60) + ' min · updated ' + new Date().toLocaleTimeString();
  }

  async function refresh() {
    try {
      render(await api('GET', '/api/v1/status'));
    } catch (err) {
      if (String(err && err.message) !== 'unauthorized') $('footer').textContent = 'could not load the status: ' + err.message;
    }
  }

  $('login').addEventListener('submit', (ev) => {
    ev.preventDefault();
    token = $('token').value.trim();
    sessionStorage.setItem('promedic-token', token);
    void refresh();
  });
  $('toggle').addEventListener('click', async () => {
    $('toggle').disabled = true;
    try {
      await api('POST', paused ? '/api/v1/resume' : '/api/v1/pause');
    } catch (err) {
      $('footer').textContent = String(err && err.message);
    }
    await refresh();
  });
  void refresh();
  setInterval(refresh, 5000);
})();
`;
