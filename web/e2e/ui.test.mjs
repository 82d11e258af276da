// The web UI against a real server with real data: run by test/e2e/ui_test.go
// (or by hand: OSPREY_URL=… OSPREY_USER=admin OSPREY_PASSWORD=… node --test web/e2e/).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { URL_, canvasInk, launch, login, measures, newPage, shot } from './lib.mjs';

const EMPTY_PROJECT = process.env.OSPREY_EMPTY_PROJECT || '';
let browser, page, ctx, errors;

before(async () => {
  browser = await launch();
  ({ ctx, page, errors } = await newPage(browser));
});
after(async () => { await browser?.close(); });

test('login page refuses a wrong password and signs in with the right one', async () => {
  await page.goto(URL_ + '/servers');
  await page.waitForSelector('.login-card');
  await shot(page, 'login');
  await page.fill('input[name=user]', process.env.OSPREY_USER || 'admin');
  await page.fill('input[name=password]', 'not-the-password');
  await page.click('button[type=submit]');
  await page.waitForSelector('.form-error');
  assert.match(await page.textContent('.form-error'), /wrong/i);
  await login(page);
  assert.equal(new URL(page.url()).pathname, '/servers');
});

test('resource board fills with live data', async () => {
  await page.waitForSelector('[data-testid=board]');
  const active = Number((await page.textContent('[data-testid=count-active]')).replace(/,/g, ''));
  assert.ok(active >= 1, `active servers ${active}`);
  await page.waitForSelector('[data-testid=cpu-map-canvas]');
  await page.waitForFunction(() => document.querySelectorAll('[data-testid=top-cpu] li').length > 0);
  assert.ok(await canvasInk(page, '[data-testid=cpu-map-canvas]') > 3, 'the CPU map canvas is drawn');
  assert.ok((await page.$$('[data-testid=top-memory] li')).length > 0, 'top memory list');
  assert.ok((await page.$$('[data-testid=top-proc-cpu] tbody tr')).length > 0, 'top processes by CPU');
  assert.ok((await page.$$('[data-testid=top-proc-memory] tbody tr')).length > 0, 'top processes by memory');
  assert.match(await page.textContent('[data-testid=stat-servers]'), /active/);
  assert.ok((await page.$$('.group-tile')).length > 0, 'groups');
  const first = await measures(page, 'osprey:board:first-render');
  assert.equal(first.length, 1, 'first-render measure');
  // the board refreshes by itself every 5 s
  await page.waitForFunction(() => performance.getEntriesByName('osprey:board:update', 'measure').length >= 1, null, { timeout: 15000 });
  await shot(page, 'resource-board');
});

test('hovering the CPU map shows a value; clicking opens the server', async () => {
  const box = await page.locator('[data-testid=cpu-map-canvas]').boundingBox();
  // rightmost column of the top (busiest) row
  const x = box.x + box.width - 6; const y = box.y + 3;
  await page.mouse.move(x, y);
  await page.waitForSelector('.heatmap .tooltip');
  assert.match(await page.textContent('.heatmap .tooltip'), /CPU/);
  await page.mouse.down(); await page.mouse.up();
  await page.waitForSelector('[data-testid=server-detail]');
  assert.match(new URL(page.url()).pathname, /^\/servers\/[^/]+$/);
});

test('server detail shows charts and the process list', async () => {
  await page.waitForFunction(() => document.querySelector('[data-testid=server-name]')?.textContent.length > 1);
  await page.waitForSelector('[data-testid=chart-cpu] canvas');
  await page.waitForSelector('[data-testid=chart-memory] canvas');
  await page.waitForFunction(() => document.querySelectorAll('[data-testid=process-table] tbody tr.clickable, [data-testid=process-table] tbody tr').length > 3);
  const rows = await page.$$('[data-testid=process-table] tbody tr');
  assert.ok(rows.length > 3, `process rows ${rows.length}`);
  // sorting by name and searching
  await page.click('[data-testid=process-table] th[data-col=name]');
  await page.fill('[data-testid=process-search]', 'zzzz-no-such-process');
  await page.waitForSelector('text=No process matches');
  await page.fill('[data-testid=process-search]', '');
  await page.click('[data-testid=process-table] th[data-col=cpu]');
  await page.waitForTimeout(1500); // let the charts draw
  await shot(page, 'server-detail', { fullPage: false });
});

test('process list switches to a past moment', async () => {
  const latest = await page.textContent('[data-testid=process-time]');
  const t = Date.parse(latest.replace(/^.*list of /, '').replace(' ', 'T')) - 8000;
  const d = new Date(t);
  const pad = (n) => String(n).padStart(2, '0');
  const v = `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  await page.fill('[data-testid=process-at]', v);
  await page.waitForSelector('[data-testid=process-past]');
  await page.waitForFunction((l) => {
    const el = document.querySelector('[data-testid=process-time]');
    return el && el.textContent !== l;
  }, latest);
  const past = await page.textContent('[data-testid=process-time]');
  assert.ok(Date.parse(past.replace(/^.*list of /, '').replace(' ', 'T')) <= t + 1000, `${past} is at or before the moment picked`);
  assert.ok((await page.$$('[data-testid=process-table] tbody tr')).length > 3);
  await page.click('[data-testid=process-live]');
  await page.waitForSelector('[data-testid=process-past]', { state: 'detached' });
});

test('dragging across a chart zooms to that time range; live comes back with one click', async () => {
  await page.evaluate(() => document.querySelector('[data-testid=chart-cpu]').scrollIntoView({ block: 'center' }));
  const box = await page.locator('[data-testid=chart-cpu]').boundingBox();
  const y = box.y + box.height / 2;
  await page.mouse.move(box.x + box.width * 0.55, y);
  await page.mouse.down();
  await page.mouse.move(box.x + box.width * 0.75, y, { steps: 8 });
  await page.mouse.move(box.x + box.width * 0.9, y, { steps: 8 });
  await page.mouse.up();
  await page.waitForFunction(() => /Go live/.test(document.querySelector('[data-testid=live-toggle]').textContent));
  assert.match(await page.textContent('[data-range=custom]'), /→/);
  await page.click('[data-testid=live-toggle]');
  await page.waitForFunction(() => /Live/.test(document.querySelector('[data-testid=live-toggle]').textContent));
});

test('a load snapshot opens with its top processes and connections', async () => {
  // from the board's alert list: the newest load-snapshot event
  await page.click('a[data-nav=Server]');
  await page.waitForSelector('[data-testid=board]');
  await page.waitForSelector('[data-testid=alert-link]', { timeout: 30000 });
  await page.click('[data-testid=alert-link] >> nth=0');
  await page.waitForSelector('[data-testid=snapshot-reason]');
  assert.match(await page.textContent('[data-testid=snapshot-reason]'), /threshold/);
  await page.waitForSelector('[data-testid=snap-top-cpu] tbody tr');
  await page.waitForSelector('[data-testid=snap-connections]');
  await shot(page, 'load-snapshot');
  // and back on its server, the snapshot tab lists it
  await page.click('.back');
  await page.waitForSelector('[data-testid=server-detail]');
  await page.click('[data-testid=tab-snapshots]');
  await page.waitForSelector('[data-testid=snapshot-link]');
});

test('server list sorts and filters', async () => {
  await page.goto(URL_ + '/servers/list');
  await page.waitForSelector('[data-testid=server-list] tbody tr');
  const n = (await page.$$('[data-testid=server-list] tbody tr')).length;
  assert.ok(n >= 1);
  await page.click('[data-testid=server-list] th[data-col=name]');
  await page.click('[data-testid=server-list] th[data-col=cpu]');
  await shot(page, 'server-list');
  await page.fill('[data-testid=server-filter]', 'no-such-server-xyz');
  await page.waitForSelector('text=No server matches this filter');
  await page.fill('[data-testid=server-filter]', '');
});

test('products not built yet say what they will do', async () => {
  await page.click('a[data-nav=Kubernetes]');
  await page.waitForSelector('[data-testid=coming]');
  assert.match(await page.textContent('[data-testid=coming]'), /Objects and events/);
  await page.click('a[data-nav=Application]');
  await page.waitForSelector('text=Active transactions');
});

test('theme switch persists across reloads', async () => {
  const before = await page.evaluate(() => document.documentElement.dataset.theme);
  await page.click('[data-testid=theme-toggle]');
  const afterT = await page.evaluate(() => document.documentElement.dataset.theme);
  assert.notEqual(afterT, before);
  await page.goto(URL_ + '/servers');
  await page.waitForSelector('[data-testid=board]');
  assert.equal(await page.evaluate(() => document.documentElement.dataset.theme), afterT);
  if (afterT === 'light') await shot(page, 'resource-board-light');
  await page.click('[data-testid=theme-toggle]');
  if (afterT !== 'light') { await page.waitForTimeout(200); await shot(page, 'resource-board-light'); }
});

test('an empty project says how to connect the first agent', { skip: !EMPTY_PROJECT && 'OSPREY_EMPTY_PROJECT not set' }, async () => {
  await page.click('[data-testid=project-switcher]');
  await page.click(`.menu-item:has-text("${EMPTY_PROJECT}")`);
  await page.waitForSelector('[data-testid=empty-state]');
  const text = await page.textContent('[data-testid=empty-state]');
  assert.match(text, /osprey-agent --server .*:4317 --key KEY/);
  assert.match(text, new RegExp(`osprey project rotate-key ${EMPTY_PROJECT}`));
  await shot(page, 'empty-state');
  // An owner can make a new key there and gets the exact command with it.
  page.once('dialog', (d) => d.accept());
  await page.click('[data-testid=new-key]');
  await page.waitForSelector('[data-testid=agent-command]');
  const cmd = await page.textContent('[data-testid=agent-command]');
  assert.match(cmd, /osprey-agent --server \S+:\d+ --key osp_[a-z0-9]{20,}/);
  await page.click('[data-testid=project-switcher]');
  await page.click('.menu-item:has-text("default")');
  await page.waitForSelector('[data-testid=board]');
});

test('logout returns to the login page', async () => {
  await page.click('[data-testid=user-menu]');
  await page.click('[data-testid=logout]');
  await page.waitForSelector('.login-card');
  await page.goto(URL_ + '/servers');
  await page.waitForSelector('.login-card');
  assert.deepEqual(errors.filter((e) => !/Failed to load resource/.test(e)), [], 'no errors in the page');
});
