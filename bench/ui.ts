/**
 * Web UI figures: initial JavaScript gzipped (budget 300 kB), time to first render of the tasks
 * screen with 10,000 tasks on 100 agents (budget 1 s on loopback), and time for one task update
 * to show (budget 200 ms). A fake operator API streams the snapshot and the update, so the
 * figures are the UI's own. Needs /usr/bin/chromium and a built dist/ui.
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { chromium } from 'playwright-core';
import { encodeRecord } from '../src/base/recordio.js';
import { Router, serveHttp } from '../src/api/http.js';
import { DEFAULT_UI_DIR, UiFiles, uiRoutes } from '../src/api/ui-static.js';

const TASKS = 10_000;
const AGENTS = 100;
const FRAMEWORKS = 1000;
const APPS = 1000;
const APP_GROUPS = 50;
const QUEUED = 100;

const dir = DEFAULT_UI_DIR;
if (!existsSync(join(dir, 'index.html'))) throw new Error('dist/ui is not built: run node scripts/build-ui.mjs');
const js = readdirSync(join(dir, 'assets')).filter((f) => f.endsWith('.js'));
const gz = js.reduce((n, f) => n + gzipSync(readFileSync(join(dir, 'assets', f))).length, 0);
console.log(`initial JS gzipped: ${(gz / 1024).toFixed(1)} kB (budget 300 kB)`);

const cpus = (v: number) => [{ name: 'cpus', type: 'SCALAR', scalar: { value: v } }];
const state = {
  get_agents: {
    agents: Array.from({ length: AGENTS }, (_, i) => ({
      agent_info: { id: { value: `a${i}` }, hostname: `10.0.${i >> 8}.${i & 255}`, resources: cpus(64) },
      active: true,
    })),
  },
  get_frameworks: {
    frameworks: Array.from({ length: FRAMEWORKS }, (_, i) => ({
      framework_info: { id: { value: `f${i}` }, name: `svc-${i}`, user: 'root' },
      active: true,
      connected: true,
    })),
  },
  get_tasks: {
    tasks: Array.from({ length: TASKS }, (_, i) => ({
      name: `task-${i}`,
      task_id: { value: `task-${i}` },
      framework_id: { value: `f${i % FRAMEWORKS}` },
      agent_id: { value: `a${i % AGENTS}` },
      state: 'TASK_RUNNING',
      statuses: [],
      resources: cpus(0.1),
    })),
  },
};

// Marathon with 1,000 apps in 50 groups (every third with a health check), 100 of them waiting in
// the launch queue with declined-offer statistics: what the services tree reads.
const apps = Array.from({ length: APPS }, (_, i) => ({
  id: `/g${i % APP_GROUPS}/app-${i}`,
  instances: 2,
  cpus: 0.1,
  mem: 32,
  tasksRunning: i < QUEUED ? 0 : 2,
  tasksStaged: 0,
  tasksHealthy: i % 3 === 0 && i >= QUEUED ? 2 : 0,
  tasksUnhealthy: 0,
  healthChecks: i % 3 === 0 ? [{ protocol: 'COMMAND', command: { value: 'true' } }] : [],
  deployments: i < QUEUED ? [{ id: `d${i}` }] : [],
}));
const queue = apps.slice(0, QUEUED).map((a) => ({
  app: a,
  count: 2,
  since: '2026-01-01T00:00:00.000Z',
  delay: { timeLeftSeconds: 0, overdue: true },
  processedOffersSummary: {
    processedOffersCount: 40,
    unusedOffersCount: 40,
    rejectSummaryLastOffers: [
      { reason: 'InsufficientCpus', declined: 30, processed: 40 },
      { reason: 'InsufficientMemory', declined: 10, processed: 40 },
    ],
  },
}));
let marathonOn = false;

let sendUpdate: (() => void) | undefined;
const router = new Router();
uiRoutes(router, new UiFiles(dir));
router.on('GET', '/', (req, res) => new UiFiles(dir).index(req, res));
router.on('POST', '/mesos/api/v1', (_req, res) => {
  res.writeHead(200, { 'Content-Type': 'application/json' });
  res.write(encodeRecord(JSON.stringify({ type: 'SUBSCRIBED', subscribed: { get_state: state, heartbeat_interval_seconds: 15 } })));
  sendUpdate = () =>
    res.write(
      encodeRecord(
        JSON.stringify({
          type: 'TASK_UPDATED',
          task_updated: { framework_id: { value: 'f0' }, state: 'TASK_FAILED', status: { task_id: { value: 'task-0' }, state: 'TASK_FAILED' } },
        }),
      ),
    );
});
const json = (res: import('node:http').ServerResponse, body: unknown) => {
  res.writeHead(200, { 'Content-Type': 'application/json' });
  res.end(JSON.stringify(body));
};
router.on('GET', '/service/marathon/v2/apps', (_req, res) => (marathonOn ? json(res, { apps }) : res.writeHead(404).end()));
router.on('GET', '/service/marathon/v2/queue', (_req, res) => (marathonOn ? json(res, { queue }) : res.writeHead(404).end()));
router.on('GET', '/service/marathon/v2/info', (_req, res) =>
  marathonOn ? json(res, { name: 'marathon', version: 'bench', frameworkId: 'f0' }) : res.writeHead(404).end(),
);
router.on('GET', '/service/marathon/v2/events', (_req, res) => {
  if (!marathonOn) return void res.writeHead(404).end();
  res.writeHead(200, { 'Content-Type': 'text/event-stream' });
  res.write(': open\n\n');
});
router.on('*', '/service/*', (_req, res) => {
  res.writeHead(404);
  res.end();
});
router.on('GET', '/dcos-metadata/dcos-version.json', (_req, res) => {
  res.writeHead(200, { 'Content-Type': 'application/json' });
  res.end('{"version":"bench"}');
});
const server = await serveHttp(router, 0, '127.0.0.1');
const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
});
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const t0 = performance.now();
  await page.goto(`http://127.0.0.1:${server.port}/tasks`);
  await page.getByText(`${TASKS} of ${TASKS} tasks`).waitFor({ timeout: 30_000 });
  await page.getByRole('link', { name: `task-${TASKS - 1}`, exact: true }).waitFor();
  const firstMs = performance.now() - t0;
  console.log(`tasks screen, first render with ${TASKS} tasks: ${firstMs.toFixed(0)} ms (budget 1000 ms)`);
  await page.getByLabel('State').selectOption('failed');
  await page.getByText(`0 of ${TASKS} tasks`).waitFor();
  const t1 = performance.now();
  sendUpdate?.();
  await page.getByText(`1 of ${TASKS} tasks`).waitFor({ timeout: 10_000 });
  console.log(`one task update shown after: ${(performance.now() - t1).toFixed(0)} ms (budget 200 ms)`);
  const t2 = performance.now();
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Services' }).click();
  await page
    .getByRole('link', { name: `svc-${FRAMEWORKS - 1}` })
    .or(page.getByRole('link', { name: 'svc-0', exact: true }))
    .first()
    .waitFor();
  console.log(`services screen (${FRAMEWORKS} frameworks, Marathon absent): ${(performance.now() - t2).toFixed(0)} ms`);

  // Marathon present: a fresh page, the services tree of 1,000 apps with the queue.
  marathonOn = true;
  const rows = APPS + APP_GROUPS + 1;
  const p2 = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const t3 = performance.now();
  await p2.goto(`http://127.0.0.1:${server.port}/services`);
  await p2.locator(`[role="table"][aria-label="Services by group"][aria-rowcount="${rows}"]`).waitFor({ timeout: 30_000 });
  await p2.getByTestId('stuck-reason').first().waitFor({ timeout: 30_000 });
  console.log(
    `services screen (${APPS} Marathon apps in ${APP_GROUPS} groups, ${QUEUED} in the queue), page load to tree with stuck reasons: ${(performance.now() - t3).toFixed(0)} ms`,
  );
  // Time the tree alone, the page warm: leave the screen and come back (apps and queue refetched).
  // A string, since this file is compiled without the DOM library.
  const treeMs = Number(
    await p2.evaluate(`(async () => {
      const link = (name) => [...document.querySelectorAll('nav[aria-label="Main"] a')].find((a) => a.textContent === name);
      link('Nodes').click();
      await new Promise((r) => setTimeout(r, 100));
      const t = performance.now();
      link('Services').click();
      for (let i = 0; i < 600; i++) {
        if (document.querySelector('[data-testid="stuck-reason"]')) return performance.now() - t;
        await new Promise((r) => requestAnimationFrame(r));
      }
      return -1;
    })()`),
  );
  console.log(`services tree again (${APPS} apps, warm page, apps and queue refetched): ${treeMs.toFixed(0)} ms`);
  const t4 = performance.now();
  await p2.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Dashboard' }).click();
  await p2.getByTestId('health-Healthy').waitFor({ timeout: 30_000 });
  console.log(`dashboard with ${APPS} apps by health: ${(performance.now() - t4).toFixed(0)} ms`);
  await p2.close();
} finally {
  await browser.close();
  await server.close();
}
