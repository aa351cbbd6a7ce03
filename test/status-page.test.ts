/**
 * The status page at / in real headless Chromium (Debian's chromium, driven by playwright-core):
 * it loads with no console errors, asks for the token, shows the run the test triggered with
 * the step that failed, fits a phone's width, and pauses and resumes the automation from the
 * page. A screenshot is saved under test-results/.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import { type Browser, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Promedic, createPromedic } from '../src/index.js';
import { ROOT, amPayload, rawRequest, recordingServer, requireBinary, tempDir, waitFor, workerPlaybook } from './helpers/index.js';

// Under CI=true a missing binary throws here, failing the file: CI must install the package.
const CHROMIUM = requireBinary('chromium', 'chromium');
const TOKEN = 'status-page-token-0123456789';

describe.runIf(CHROMIUM)('the status page', () => {
  let dir: { path: string; cleanup: () => void };
  let app: Awaited<ReturnType<typeof recordingServer>>;
  let p: Promedic;
  let browser: Browser;

  beforeAll(async () => {
    dir = tempDir();
    app = await recordingServer(() => 200);
    mkdirSync(join(dir.path, 'rules', 'playbooks'), { recursive: true });
    writeFileSync(join(dir.path, 'rules', 'playbooks', 'worker.yml'), workerPlaybook(app.url));
    p = await createPromedic({
      config: { listen: { port: 0, address: '127.0.0.1' }, data_dir: join(dir.path, 'data'), rules_dir: join(dir.path, 'rules'), auth: { token: TOKEN }, monitor: { enabled: false } },
      env: {},
      logger: pino({ level: 'silent' }),
    });
    await p.start();
    browser = await chromium.launch({ executablePath: CHROMIUM as string, args: ['--no-sandbox'] });
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await p?.stop();
    await app?.close();
    dir?.cleanup();
  });

  it('loads without console errors, shows the triggered run, fits a phone, and pauses and resumes', async () => {
    const posted = await rawRequest(`${p.url}/webhook/alertmanager`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
      body: JSON.stringify(amPayload([{ labels: { alertname: 'WorkerStuck', service: 'billing', severity: 'warning' } }])),
    });
    expect(posted.status).toBe(202);
    await waitFor(() => p.status().runs.recent[0]?.status === 'failed' && p.status().strategies.length > 0, 10_000, 'the run to end and its outcome to be learned');

    const context = await browser.newContext({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 2 });
    const page = await context.newPage();
    const problems: string[] = [];
    page.on('console', (m) => {
      // The first load asks for the token: that 401 is the page working as designed.
      if (m.type() === 'error' && !m.text().includes('401')) problems.push(m.text());
    });
    page.on('pageerror', (e) => problems.push(e.message));

    const res = await page.goto(`${p.url}/`);
    expect(res?.status()).toBe(200);
    await page.locator('#login').waitFor({ state: 'visible' });
    await page.fill('#token', TOKEN);
    await page.click('#login button[type=submit]');
    await page.locator('#content').waitFor({ state: 'visible' });

    // The run the test triggered, with its outcome and the step that failed.
    const run = page.locator('#runs tr', { hasText: 'restart-worker / restart' });
    await expect.poll(() => run.count()).toBe(1);
    // (The alert column is left out on a phone's width.)
    expect(await run.innerText()).toMatch(/restart-worker \/ restart\s+failed\s+verification: the alert did not resolve within 0\.5s/);
    expect(await page.locator('#alerts').innerText()).toContain('WorkerStuck');
    expect(await page.locator('#strategies').innerText()).toMatch(/restart-worker \/ restart\s+0 of 1\s+0 %/);
    expect(await page.locator('#systems').innerText()).toMatch(/collector\s+up/);
    expect(await page.locator('#mode').innerText()).toBe('active');

    // Readable on a phone: nothing wider than the screen.
    // (Expressions as strings: the test's TypeScript has no DOM types.)
    expect(await page.evaluate('document.documentElement.scrollWidth <= window.innerWidth')).toBe(true);
    mkdirSync(join(ROOT, 'test-results'), { recursive: true });
    writeFileSync(join(ROOT, 'test-results', 'status-page.png'), await page.screenshot({ fullPage: true }));

    // Pause from the page: the API agrees, the page says so; resume the same way.
    await page.click('#toggle');
    await expect.poll(() => page.locator('#mode').innerText()).toBe('paused');
    expect(p.status().automation.paused).toBe(true);
    expect(await page.locator('#toggle').innerText()).toBe('Resume');
    await page.click('#toggle');
    await expect.poll(() => page.locator('#mode').innerText()).toBe('active');
    expect(p.status().automation.paused).toBe(false);

    expect(problems).toEqual([]);
    await context.close();
  }, 60_000);

  it('is served with a Content-Security-Policy that allows only its own files, and puts alert data in as text', async () => {
    const res = await fetch(`${p.url}/`);
    expect(res.headers.get('content-security-policy')).toMatch(/default-src 'none'; script-src 'self'/);
    // An alert whose labels carry markup: shown as text, never run.
    await rawRequest(`${p.url}/webhook/alertmanager`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
      body: JSON.stringify(amPayload([{ labels: { alertname: 'Markup', service: '<img src=x onerror="window.pwned=1">' } }])),
    });
    const page = await browser.newPage();
    await page.addInitScript(`sessionStorage.setItem('promedic-token', ${JSON.stringify(TOKEN)})`);
    await page.goto(`${p.url}/`);
    await page.locator('#alerts', { hasText: 'Markup' }).waitFor();
    expect(await page.locator('#alerts').innerText()).toContain('service=<img src=x onerror="window.pwned=1">');
    expect(await page.evaluate('window.pwned')).toBeUndefined();
    expect(await page.locator('#alerts img').count()).toBe(0);
    await page.close();
  }, 60_000);
});
