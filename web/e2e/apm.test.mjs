// Application monitoring screens against a real server with two real
// apps: a Go service traced by Osprey's apm library (OSPREY_APM_APP), with
// a deliberately slow request running while this file runs, and a Node.js
// service under OpenTelemetry's zero-code instrumentation
// (OSPREY_APM_NODE_APP) that the Go one calls (and that calls it back).
// Run by the Go e2e test (test/e2e/apm_test.go), or by hand:
//   OSPREY_URL=… OSPREY_USER=admin OSPREY_PASSWORD=… OSPREY_APM_APP=goshop OSPREY_APM_NODE_APP=nodeinv node --test web/e2e/apm.test.mjs
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { URL_, canvasInk, launch, login, newPage, pageAPI, shot, untilOn } from './lib.mjs';

const APP = process.env.OSPREY_APM_APP || '';
const NODE_APP = process.env.OSPREY_APM_NODE_APP || '';
// TestWebUI runs every file in web/e2e against a server without these
// apps: without their names this file is skipped.
const skip = !(APP && NODE_APP) && 'OSPREY_APM_APP and OSPREY_APM_NODE_APP not set (no instrumented apps)';

let browser, page, errors;

before(async () => {
  if (skip) return;
  browser = await launch();
  ({ page, errors } = await newPage(browser, { acceptDownloads: true }));
  await login(page);
});
after(async () => { await browser?.close(); });

// api calls the HTTP API from the page, with the session and project.
const api = (path) => pageAPI(page, path);

const until = (what, f, timeout, every) => untilOn(page, what, f, timeout, every);
const attr = (sel, a) => page.getAttribute(sel, a);
const q = (s) => encodeURIComponent(s);

test('the dashboard: the speed meter shows the slow request, the hitmap has ink, the charts draw', { skip }, async () => {
  await page.goto(URL_ + '/apm');
  await page.waitForSelector('[data-testid=apm-dashboard]');
  // the sidebar has the product and its views, without "soon"
  assert.doesNotMatch(await page.textContent('a[data-nav=Application]'), /soon/);
  // the slow request is running: at least one active transaction on the Go app
  const row = `[data-testid=speed-row][data-app="${APP}"]`;
  await until(`an active transaction of ${APP} in the speed meter`, async () => Number(await attr(row, 'data-active')) >= 1, 45000);
  // … in SQL (SELECT SLEEP) right now: the bottleneck says so
  await until('the running SQL in the bottleneck', async () => Number(await attr('[data-testid=bottleneck-row][data-type=sql]', 'data-count')) >= 1, 30000);
  // both apps listed
  for (const a of [APP, NODE_APP]) await page.waitForSelector(`[data-testid=apps-table] tbody tr:has-text("${a}")`);
  // the hitmap: ink and transactions
  await until('transactions in the hitmap', async () => Number(await attr('[data-testid=hitmap-canvas]', 'data-total')) > 0, 45000);
  assert.ok(await canvasInk(page, '[data-testid=hitmap-canvas]') > 3, 'ink on the hitmap');
  // TPS with yesterday's line, and the other charts
  await until('TPS points', async () => Number(await attr('[data-testid=apm-chart-box-tps]', 'data-points')) >= 2, 45000);
  assert.ok(await canvasInk(page, '[data-testid=chart-tps] canvas') > 3, 'ink on the TPS chart');
  assert.deepEqual((await attr('[data-testid=apm-chart-box-tps]', 'data-series')).split(','), ['today', 'yesterday']);
  for (const k of ['users', 'avg', 'apdex', 'errors', 'active', 'cpu', 'heap']) await page.waitForSelector(`[data-testid=chart-${k}] canvas`);
  await page.waitForTimeout(600);
  await shot(page, 'apm-dashboard');

  // a band of the speed meter opens the active list filtered to it
  const band = await page.waitForSelector(`${row} [data-testid=speed-band]`);
  const b = await band.getAttribute('data-band');
  await band.click();
  await page.waitForSelector('[data-testid=apm-active]');
  const u = new URL(page.url());
  assert.equal(u.searchParams.get('band'), b);
  assert.equal(u.searchParams.get('app'), APP);

  // the app filter narrows the dashboard
  await page.goto(URL_ + '/apm');
  await page.waitForSelector(row);
  await page.selectOption('[data-testid=filter-app]', NODE_APP);
  await page.waitForFunction((a) => new URL(location.href).searchParams.get('app') === a, NODE_APP);
  await page.waitForFunction((a) => [...document.querySelectorAll('[data-testid=speed-row]')].every((r) => r.dataset.app === a), NODE_APP);
  await page.click('[data-testid=filter-clear]');
  await page.waitForSelector(row);
});

test('the hitmap: a dragged box lists exactly the API\'s transactions of that box; a row opens its profile', { skip }, async () => {
  await page.goto(URL_ + '/apm');
  const cv = '[data-testid=hitmap-canvas]';
  await until('transactions in the hitmap', async () => Number(await attr(cv, 'data-total')) > 0, 45000);
  // a 5-s column, closed for 30 s (no late rows), with slower transactions
  // (whose steps the library keeps) and, if there is one, few enough to
  // list on one screen; the slow request ends one every 10 s
  const col = await until('a closed hitmap column with slower transactions', async () => {
    const end = Date.now() / 1000;
    const hm = await api(`/api/v1/apm/hitmap?start=${end - 540}&end=${end}`);
    const cols = new Map();
    for (const [t, bucket, ok, err] of hm.cells) {
      const c = cols.get(t) || { t, n: 0, slow: 0 };
      c.n += ok + err;
      if (bucket >= 1) c.slow += ok + err;
      cols.set(t, c);
    }
    const closed = [...cols.values()].filter((c) => c.t + 5000 < Date.now() - 30000 && c.slow > 0).sort((a, b) => b.t - a.t);
    return closed.find((c) => c.n <= 150) || closed[0];
  }, 90000, 2000);
  // hold the live view: the axis must not move between reading it and dragging
  await page.click('[data-testid=live-toggle]');
  await page.waitForSelector('[data-testid=live-toggle]:has-text("Paused")');
  await page.waitForTimeout(300);
  const g = await page.$eval(cv, (c) => ({ ...c.dataset }));
  assert.ok(col.t >= Number(g.start) && col.t + 5000 <= Number(g.end), `column ${col.t} in the hitmap's ${g.start}–${g.end}`);
  // drag from the bottom to the top of that column: every bucket, one column
  const box = await page.locator(cv).boundingBox();
  const left = Number(g.plotLeft); const width = Number(g.plotWidth); const top = Number(g.plotTop); const height = Number(g.plotHeight);
  const x = box.x + left + ((col.t + 2500 - Number(g.start)) / (Number(g.end) - Number(g.start))) * width;
  await page.mouse.move(x, box.y + top + height - 1);
  await page.mouse.down();
  await page.mouse.move(x, box.y + top + height / 2, { steps: 5 });
  await page.mouse.move(x, box.y + top + 1, { steps: 5 });
  await page.mouse.up();
  await page.waitForSelector('[data-testid=hitmap-selection-box]');
  const sel = '[data-testid=selection-box]';
  await page.waitForSelector(`${sel}[data-loaded=true]`);
  const query = await attr(sel, 'data-query');
  const p = new URLSearchParams(query);
  assert.equal(Number(p.get('start')) * 1000, col.t, `the box starts at the column: ${query}`);
  assert.equal(Number(p.get('end')) * 1000, col.t + 5000, `the box ends with the column: ${query}`);
  assert.equal(Number(p.get('min_ms')), 0, 'from the lowest bucket');
  assert.equal(p.get('max_ms'), null, 'to the highest bucket (no upper edge)');
  // what the page lists is what the API answers for that box
  const want = await api('/api/v1/apm/transactions' + query);
  const listed = await page.$$eval('[data-testid=selection-tx]', (els) => els.map((e) => e.dataset.span));
  assert.equal(Number(await attr(sel, 'data-count')), want.transactions.length, 'as many listed as the API answers');
  if (want.transactions.length <= 200) assert.deepEqual([...listed].sort(), want.transactions.map((t) => t.span_id).sort(), 'the same transactions');
  else for (const s of listed) assert.ok(want.transactions.some((t) => t.span_id === s), `${s} is in the API's answer`);
  assert.ok(want.transactions.length >= 1, 'the box has transactions');
  await shot(page, 'apm-hitmap-selection');
  await page.click('[data-testid=live-toggle]');
  await page.waitForSelector('[data-testid=live-toggle]:has-text("Live")');

  // the slowest (listed first) opens its profile, with its steps
  const first = await page.$eval('[data-testid=selection-tx]', (e) => ({ span: e.dataset.span, trace: e.dataset.trace }));
  await page.click('[data-testid=selection-table] tbody tr:first-child');
  await page.waitForSelector('[data-testid=apm-profile]');
  assert.ok(page.url().endsWith(`/apm/tx/${first.trace}/${first.span}`), page.url());
  await page.waitForSelector('[data-testid=profile-summary]');
  await page.waitForSelector('[data-testid=profile-step]');
  assert.ok((await page.$$('[data-testid=profile-step]')).length >= 1, 'steps in the profile');
  // a step opens to its text and attributes
  await page.click('[data-testid=profile-step] .apm-tl-row');
  await page.waitForSelector('[data-testid=profile-step] .apm-tl-more');
  await shot(page, 'apm-profile');
});

test('active transactions: the slow request with its current step, call stack and stack history', { skip }, async () => {
  await page.goto(URL_ + '/apm/active?app=' + q(APP));
  await page.waitForSelector('[data-testid=apm-active]');
  const slow = `[data-testid=active-row][data-app="${APP}"][data-step]:not([data-step=""])`;
  // the one that has run longest (the slow request, in SELECT SLEEP); the
  // list refreshes every 5 s, and a snapshot can fall between two slow
  // requests, so wait for one that has run a while
  const runningRows = () => page.$$eval(slow, (els) => els.map((e) => ({ span: e.dataset.span, elapsed: Number(e.dataset.elapsed) })));
  let rows = [];
  await until('a slow transaction of the app running in a step', async () => {
    rows = await runningRows();
    return rows.some((x) => x.elapsed >= 500);
  }, 45000);
  const pick = rows.sort((a, b) => b.elapsed - a.elapsed)[0];
  assert.ok(pick.elapsed >= 500, `a slow one is running: ${JSON.stringify(rows)}`);
  const r = `[data-testid=active-row][data-span="${pick.span}"]`;
  assert.ok((await page.textContent(`${r} [data-testid=active-step]`)).trim().length > 0, 'the current step has a text');
  await page.click(r);
  await page.waitForSelector('[data-testid=active-detail]');
  await page.waitForSelector('[data-testid=detail-step]');
  // the stack: the library samples running transactions every second
  // (sampled every second by the library; the list gives the newest hash every 5 s)
  await until('the stack text', async () => (await page.$('[data-testid=active-stack]')) && (await page.textContent('[data-testid=active-stack]')).trim().length > 10, 30000);
  await until('stack history samples', async () => (await page.$$('[data-testid=history-sample]')).length >= 1, 30000);
  await shot(page, 'apm-active');

  // pause holds the list; resume goes on
  await page.click('[data-testid=active-pause]');
  await page.waitForSelector('[data-testid=active-status][data-paused=true]');
  await page.click('[data-testid=active-pause]');
  await page.waitForSelector('[data-testid=active-status][data-paused=false]');

  // top stacks over the range
  await page.click('[data-testid=active-tab-stacks]');
  await page.waitForSelector('[data-testid=top-stacks]');
  await until('top stacks', async () => (await page.$$('[data-testid=top-stack-row]')).length > 0, 30000);
  await page.click('[data-testid=top-stack-row]');
  await page.waitForSelector('[data-testid=top-stack-text]');
  assert.ok((await page.textContent('[data-testid=top-stack-text]')).trim().length > 10);
});

test('statistics: every tab has rows, a column sorts, CSV export downloads', { skip }, async () => {
  await page.goto(URL_ + '/apm/stats');
  await page.waitForSelector('[data-testid=apm-stats]');
  for (const kind of ['tx', 'sql', 'httpc', 'error', 'ip', 'ua']) {
    await page.click(`[data-testid=stats-tab-${kind}]`);
    await page.waitForSelector(`[data-testid=stats-table][data-kind=${kind}]`);
    await until(`${kind} statistics`, async () => (await page.$$('[data-testid=stats-row]')).length > 0, 45000);
    if (kind === 'tx') {
      // the app's transactions are there; sort by count
      await page.click('[data-testid=stats-table] th[data-col=count]');
      await page.waitForSelector('[data-testid=stats-table] th.sorted[data-col=count]');
      await until('rows by count', async () => {
        const counts = await page.$$eval('[data-testid=stats-row]', (trs) => trs.map((t) => Number(t.dataset.count)));
        return counts.length > 0 && counts.every((c, i) => i === 0 || c <= counts[i - 1]);
      }, 15000, 500);
      await shot(page, 'apm-stats');
      const [dl] = await Promise.all([page.waitForEvent('download'), page.click('[data-testid=stats-export]')]);
      assert.match(dl.suggestedFilename(), /\.csv$/);
      const text = readFileSync(await dl.path(), 'utf8');
      assert.match(text.split('\n')[0], /^key,count,errors,sum_ms/);
      assert.ok(text.trim().split('\n').length >= 2, 'rows in the CSV');
    }
  }
});

test('a trace across both apps shows both in the chain; a row opens its profile', { skip }, async () => {
  // a transaction of the Node.js app called by the Go one
  const end = Math.floor(Date.now() / 1000);
  const found = await until('a trace across both apps', async () => {
    const list = await api(`/api/v1/apm/transactions?app=${q(NODE_APP)}&start=${end - 1800}&end=${end + 60}&limit=50`);
    for (const t of list.transactions.slice(0, 10)) {
      const tr = await api(`/api/v1/apm/trace/${t.trace_id}`).catch(() => null);
      const apps = new Set((tr?.transactions || []).map((x) => x.app));
      if (apps.has(APP) && apps.has(NODE_APP)) return tr;
    }
    return null;
  }, 60000, 2000);
  await page.goto(`${URL_}/apm/trace/${found.trace_id}`);
  await page.waitForSelector('[data-testid=apm-trace]');
  await page.waitForSelector(`[data-testid=trace-row][data-app="${APP}"]`);
  await page.waitForSelector(`[data-testid=trace-row][data-app="${NODE_APP}"]`);
  const depths = await page.$$eval('[data-testid=trace-row]', (els) => els.map((e) => ({ app: e.dataset.app, depth: Number(e.dataset.depth) })));
  assert.equal(depths[0].depth, 0, 'the root first');
  assert.ok(depths.some((d) => d.app === NODE_APP && d.depth >= 1), `the Node.js app is called: ${JSON.stringify(depths)}`);
  assert.equal(depths.length, found.transactions.length);
  await shot(page, 'apm-trace');
  // a row opens that transaction's profile; its "View trace" comes back
  const span = await attr(`[data-testid=trace-row][data-app="${NODE_APP}"]`, 'data-span');
  await page.click(`[data-testid=trace-row][data-app="${NODE_APP}"]`);
  await page.waitForSelector('[data-testid=apm-profile]');
  assert.ok(page.url().endsWith(`/apm/tx/${found.trace_id}/${span}`), page.url());
  await page.waitForSelector('[data-testid=profile-summary]');
  assert.equal(await page.textContent('[data-testid=profile-app]'), NODE_APP);
  await page.click('[data-testid=view-trace]');
  await page.waitForSelector(`[data-testid=trace-row][data-app="${APP}"]`);
});

test('the service map shows both apps and an edge between them; an app opens its dashboard', { skip }, async () => {
  await page.goto(URL_ + '/apm/map');
  await page.waitForSelector('[data-testid=apm-map]');
  for (const a of [APP, NODE_APP]) await page.waitForSelector(`[data-testid=map-node][data-kind=app][data-name="${a}"]`, { timeout: 60000 });
  await until('an edge between the apps', async () => (await page.$$(
    `[data-testid=map-edge][data-from="${APP}"][data-to="${NODE_APP}"], [data-testid=map-edge][data-from="${NODE_APP}"][data-to="${APP}"]`)).length > 0, 30000);
  // the edges carry calls/s
  const rps = Number(await attr(`[data-testid=map-edge][data-from="${APP}"][data-to="${NODE_APP}"], [data-testid=map-edge][data-from="${NODE_APP}"][data-to="${APP}"]`, 'data-rps'));
  assert.ok(rps > 0, `calls/s on the edge: ${rps}`);
  await shot(page, 'apm-map');
  await page.click(`[data-testid=map-node][data-name="${APP}"]`);
  await page.waitForSelector('[data-testid=apm-dashboard]');
  assert.equal(new URL(page.url()).searchParams.get('app'), APP);
  assert.equal(await page.inputValue('[data-testid=filter-app]'), APP);
});

test('the hitmap stays fast with 100k transactions', { skip }, async () => {
  // a dense last 10 minutes: every 5-s column with many buckets filled
  await page.route('**/api/v1/apm/hitmap*', async (route) => {
    const u = new URL(route.request().url());
    const end = Math.floor((Number(u.searchParams.get('end')) * 1000) / 5000) * 5000;
    const start = Math.floor((Number(u.searchParams.get('start')) * 1000) / 5000) * 5000;
    const cells = [];
    for (let t = start; t < end; t += 5000) {
      for (let b = 0; b < 120; b++) {
        const n = Math.round(100 * Math.exp(-b / 10));
        const e = b % 7 === 0 ? 1 : 0;
        if (n + e > 0) cells.push([t, b, n, e]);
      }
    }
    const total = cells.reduce((s, c) => s + c[2] + c[3], 0);
    await route.fulfill({ contentType: 'application/json', body: JSON.stringify({ status: 'success', data: { step: 5, bounds: [], start, end, cells, total, errors: 0 } }) });
  });
  await page.goto(URL_ + '/apm');
  await page.evaluate(() => performance.clearMeasures());
  await until('the dense hitmap drawn', async () => Number(await attr('[data-testid=hitmap-canvas]', 'data-total')) >= 100000, 30000, 500);
  // two live updates more
  await page.waitForTimeout(10500);
  const draws = await page.evaluate(() => performance.getEntriesByName('osprey:hitmap:draw', 'measure').map((m) => m.duration));
  const total = Number(await attr('[data-testid=hitmap-canvas]', 'data-total'));
  await page.unroute('**/api/v1/apm/hitmap*');
  assert.ok(draws.length >= 2, `draws: ${draws}`);
  const worst = Math.max(...draws.slice(1));
  console.log(`hitmap with ${total} transactions: draws ${draws.map((d) => d.toFixed(1)).join(', ')} ms`);
  assert.ok(worst < 100, `hitmap draws under 100 ms with ${total} transactions: ${draws.map((d) => d.toFixed(1))}`);
});

test('no errors in the page', { skip }, () => {
  assert.deepEqual(errors.filter((e) => !/Failed to load resource/.test(e)), [], 'no errors in the page');
});
