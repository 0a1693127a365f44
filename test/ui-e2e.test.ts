/**
 * The web UI in a real browser (Debian's chromium driven by playwright-core) against a real
 * `dcos up` cluster: the dashboard shows the cluster's numbers, a task a framework launched shows
 * up live in the tasks screen, and its page shows a line it printed to stdout. A screenshot of each
 * screen goes to test-artifacts/ui/. Skipped, with the reason printed, where /usr/bin/chromium is
 * missing (CI installs it).
 */
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type Browser, type Page, chromium } from 'playwright-core';
import { getJson } from './lib/http.js';
import { Scheduler, frameworkInfo, taskInfo } from './lib/mesos.js';

const CHROMIUM = '/usr/bin/chromium';
const DCOS = resolve('dist/src/main/dcos.js');
const ARTIFACTS = resolve('test-artifacts/ui');
const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];
const PRINTED = 'hello from the web UI test';

function dcos(args: string[], env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((res) => {
    execFile(process.execPath, [DCOS, ...args], { env: { ...process.env, ...env }, timeout: 120_000 }, (err, stdout, stderr) => {
      res({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

const skip = existsSync(CHROMIUM) ? false : `${CHROMIUM} is missing (apt-get install -y chromium)`;
if (skip) console.log(`# ui-e2e skipped: ${skip}`);

describe('the web UI in a browser against a real cluster', { skip }, () => {
  const home = mkdtempSync(join(tmpdir(), 'dcos-ui-'));
  const workDir = join(home, 'cluster');
  const env = { DCOS_TS_CONFIG_DIR: join(home, 'config'), DCOS_TS_HOME: home };
  let info: { url: string; mesos: string };
  let browser: Browser;
  let page: Page;
  let sched: Scheduler | undefined;
  const consoleErrors: string[] = [];

  const shot = async (name: string) => {
    await page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
  };

  before(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    // The UI is served from dist/ui; build it if this checkout has not (fast when up to date).
    const b = spawnSync(process.execPath, ['scripts/build-ui.mjs'], { stdio: 'inherit' });
    assert.equal(b.status, 0, 'scripts/build-ui.mjs failed');
    const r = await dcos(['up', '--detach', '--json', '--agents=2', `--work-dir=${workDir}`, '--resources=cpus:2;mem:1024;disk:2048'], env);
    assert.equal(r.code, 0, `dcos up failed: ${r.stderr}`);
    info = JSON.parse(r.stdout);
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_FLAGS });
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    page.on('console', (m) => {
      if (m.type() === 'error') consoleErrors.push(m.text());
    });
    page.on('pageerror', (e) => consoleErrors.push(String(e)));
  });

  after(async () => {
    sched?.close();
    await browser?.close();
    await dcos(['down', '--purge', `--work-dir=${workDir}`], env);
    rmSync(home, { recursive: true, force: true });
  });

  test('the cluster URL serves the app to browsers and the JSON summary to API clients', async () => {
    const html = await fetch(`${info.url}/`, { headers: { Accept: 'text/html' } });
    assert.equal(html.status, 200);
    assert.match(html.headers.get('content-type') ?? '', /text\/html/);
    assert.match(await html.text(), /<div id="root">/);
    const json = (await (await fetch(`${info.url}/`, { headers: { Accept: 'application/json' } })).json()) as { version?: unknown };
    assert.equal(typeof json.version, 'string');
    const deep = await fetch(`${info.url}/tasks/some/deep/link`);
    assert.match(deep.headers.get('content-type') ?? '', /text\/html/, 'client routes fall back to index.html');
    const asset = /src="(\/assets\/[^"]+\.js)"/.exec(await (await fetch(`${info.url}/`)).text())?.[1];
    assert.ok(asset, 'index.html names a hashed bundle');
    const js = await fetch(`${info.url}${asset}`, { headers: { 'Accept-Encoding': 'gzip' } });
    assert.match(js.headers.get('content-type') ?? '', /javascript/);
    assert.match(js.headers.get('cache-control') ?? '', /immutable/);
    const state = await getJson(`${info.url}/mesos/master/state`);
    assert.equal(state.slaves.length, 2, 'other gateway routes are untouched');
  });

  test('the dashboard shows the totals of both agents, live', async () => {
    await page.goto(`${info.url}/`);
    await page.getByRole('heading', { level: 1, name: 'Dashboard' }).waitFor();
    await page.getByRole('status').getByText('Live').waitFor({ timeout: 10_000 });
    await page.getByTestId('nodes-active').filter({ hasText: '2' }).waitFor();
    // 2 agents × 2 cpus, nothing allocated yet.
    await page.getByTestId('res-cpus').getByText('0 cores of 4 cores').waitFor();
    await page.getByTestId('component-Gateway').getByText('Healthy', { exact: true }).waitFor();
    await shot('dashboard-empty');
  });

  test('the last-hour plots survive a reload', async () => {
    const plot = page.getByRole('img', { name: /^CPU allocated over the last hour/ });
    const samples = async () => Number(/(\d+) samples/.exec((await plot.getAttribute('aria-label')) ?? '')?.[1] ?? 1);
    // One sample when the stream opens, then one every 5 s: wait for three.
    await page.getByRole('img', { name: /^CPU allocated over the last hour: .*, [3-9]\d* samples$/ }).waitFor({ timeout: 30_000 });
    const before = await samples();
    await page.reload();
    await page.getByRole('status').getByText('Live').waitFor({ timeout: 10_000 });
    // Restored from localStorage plus the new page's first sample; a page starting empty would
    // need 5 s per sample to get there.
    const after = await samples();
    assert.ok(after > before, `the plot kept its samples across the reload (${before} before, ${after} after)`);
  });

  test('a task launched by a framework appears live; its page shows the line it printed', async () => {
    sched = await Scheduler.subscribe(info.mesos, frameworkInfo({ name: 'ui-test-fw' }));
    const offer = await sched.offer(() => true, 15_000);
    const ti = taskInfo(offer, 'ui-printer', { cpus: 0.5, mem: 64, name: 'printer' });
    ti.command = { shell: true, value: `echo "${PRINTED}"; echo "to stderr" 1>&2; sleep 120` };
    await sched.launch(offer, [ti]);
    // Updates come one at a time per task: acknowledge each until RUNNING.
    for (;;) {
      const st = await sched.update('ui-printer', undefined, 20_000);
      await sched.ack(st);
      if (st.state === 'TASK_RUNNING') break;
      assert.ok(['TASK_STAGING', 'TASK_STARTING'].includes(st.state), `unexpected ${st.state}: ${st.message ?? ''}`);
    }

    // The dashboard moves without a reload: 0.5 of 4 cores allocated.
    await page.getByTestId('res-cpus').getByText('0.5 cores of 4 cores').waitFor({ timeout: 10_000 });
    await page.getByTestId('tasks-TASK_RUNNING').filter({ hasText: '1' }).waitFor();
    await shot('dashboard');

    // Keyboard: the main navigation is reachable and labelled.
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Tasks' }).click();
    await page.getByRole('heading', { level: 1, name: 'Tasks' }).waitFor();
    await page.getByLabel('Search').fill('printer');
    await page.getByTestId('task-count').getByText('1 of 1 tasks').waitFor();
    await shot('tasks');

    await page.getByRole('link', { name: 'ui-printer' }).click();
    await page.getByRole('heading', { level: 1, name: 'Task ui-printer' }).waitFor();
    await page.getByTestId('log-stdout').getByText(PRINTED).waitFor({ timeout: 15_000 });
    await shot('task-stdout');

    await page.getByRole('tab', { name: 'Errors (stderr)' }).click();
    await page.getByTestId('log-stderr').getByText('to stderr').waitFor({ timeout: 15_000 });
    await page.getByRole('tab', { name: 'Files' }).click();
    await page.getByRole('button', { name: 'stdout' }).waitFor();
    await shot('task-files');
    await page.getByRole('tab', { name: 'Status history' }).click();
    await page.getByRole('cell', { name: 'Running' }).first().waitFor();
  });

  test('nodes, a node page, frameworks and services render from the same store', async () => {
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Nodes' }).click();
    await page.getByRole('heading', { level: 1, name: 'Nodes' }).waitFor();
    await page.getByRole('link', { name: '127.0.0.2' }).waitFor();
    await shot('nodes');
    const host = await page.getByRole('row').filter({ hasText: '0.5 / 2' }).getByRole('link').first().textContent();
    await page.getByRole('link', { name: host ?? '' }).click();
    await page.getByRole('heading', { level: 1, name: `Node ${host}` }).waitFor();
    await page.getByRole('link', { name: 'ui-printer' }).waitFor();
    await shot('node');

    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Frameworks' }).click();
    await page.getByRole('link', { name: 'ui-test-fw' }).waitFor();
    await shot('frameworks');

    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Services' }).click();
    await page.getByRole('heading', { level: 1, name: 'Services' }).waitFor();
    await page.getByRole('link', { name: 'ui-test-fw' }).waitFor();
    await shot('services');
    // Features that have not landed are not linked.
    for (const name of ['Jobs', 'Catalog', 'Networking', 'Users'])
      assert.equal(await page.getByRole('link', { name }).count(), 0, `${name} must not be linked`);
  });

  test('at 800 px wide the navigation stays usable', async () => {
    await page.setViewportSize({ width: 800, height: 900 });
    await page.goto(`${info.url}/dashboard`);
    await page.getByRole('heading', { level: 1, name: 'Dashboard' }).waitFor();
    const nav = await page.getByRole('navigation', { name: 'Main' }).boundingBox();
    assert.ok(nav && nav.width <= 800, 'the navigation fits');
    await page.keyboard.press('Tab');
    await page.keyboard.press('Tab');
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate('document.activeElement && document.activeElement.tagName'), 'A', 'Tab reaches the links');
    await shot('dashboard-800');
    await page.setViewportSize({ width: 1280, height: 900 });
  });

  test('the browser saw no script errors', () => {
    // The one expected failure: the probe for Marathon, which answers 404 until it lands.
    assert.deepEqual(
      consoleErrors.filter((e) => !/status of 404/.test(e)),
      [],
    );
  });
});
