// Database monitoring screens against a real server and agent watching a
// real MariaDB and PostgreSQL, with a lock wait held open and a long query
// running on MariaDB. Run by the Go e2e test, or by hand:
//   OSPREY_URL=… OSPREY_USER=admin OSPREY_PASSWORD=… OSPREY_DB_MYSQL=mariadb-local OSPREY_DB_PG=pg-local \
//   OSPREY_DB_LOCK_TABLE=osp_lock_t OSPREY_DB_LONG_QUERY='SLEEP(' node --test web/e2e/db.test.mjs
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { URL_, canvasInk, launch, login, newPage, pageAPI, shot, untilOn } from './lib.mjs';

const MYSQL = process.env.OSPREY_DB_MYSQL || '';
const PG = process.env.OSPREY_DB_PG || '';
// TestWebUI runs every file in web/e2e against a server without database
// instances: without the instance names this file is skipped.
const skip = !(MYSQL && PG) && 'OSPREY_DB_MYSQL and OSPREY_DB_PG not set (no monitored databases)';
const LOCK_TABLE = process.env.OSPREY_DB_LOCK_TABLE || 'osp_lock_t';
const LONG_QUERY = process.env.OSPREY_DB_LONG_QUERY || 'SLEEP(';

let browser, page, errors;
const ids = {};

before(async () => {
  if (skip) return;
  browser = await launch();
  ({ page, errors } = await newPage(browser));
  await login(page);
});
after(async () => { await browser?.close(); });

// api calls the HTTP API from the page, with the session and project.
const api = (path) => pageAPI(page, path);

const until = (what, f, timeout, every) => untilOn(page, what, f, timeout, every);

const inked = (sel, min = 3) => until(`ink on ${sel}`, async () => (await canvasInk(page, sel)) > min, 45000);
// drawn: the chart has at least two points of data (a line) and ink
async function drawn(box, canvas) {
  await until(`points in ${box}`, async () => Number(await page.getAttribute(box, 'data-points')) >= 2, 60000);
  await inked(canvas);
}

test('the database list shows both instances, up', { skip }, async () => {
  await page.goto(URL_ + '/database');
  await page.waitForSelector('[data-testid=db-list-page]');
  for (const name of [MYSQL, PG]) {
    const row = `[data-testid=db-row][data-name="${name}"]`;
    await page.waitForSelector(row, { timeout: 60000 });
    // ok, or warning while the test's lock wait is held: the instance is watched and answers
    await until(`${name} healthy`, async () => ['ok', 'warning'].includes(await page.getAttribute(`${row} [data-testid=db-health]`, 'data-health')));
    ids[name] = await page.getAttribute(row, 'data-id');
  }
  const list = await api('/api/v1/databases');
  for (const name of [MYSQL, PG]) {
    const d = list.find((x) => x.name === name);
    assert.ok(d, `${name} in the API list`);
    assert.equal(d.up, true, `${name} answers`);
    assert.equal(d.active, true, `${name}'s agent reports`);
  }
  assert.match(await page.textContent(`[data-testid=db-row][data-name="${MYSQL}"]`), /MariaDB|MySQL/);
  assert.match(await page.textContent(`[data-testid=db-row][data-name="${PG}"]`), /PostgreSQL/);
  await shot(page, 'db-list');
  // filter and group by group
  await page.fill('[data-testid=db-filter]', PG);
  await page.waitForFunction((n) => [...document.querySelectorAll('[data-testid=db-row]')].every((r) => r.dataset.name.includes(n)), PG);
  await page.fill('[data-testid=db-filter]', 'no-such-database-xyz');
  await page.waitForSelector('text=No instance matches this filter');
  await page.fill('[data-testid=db-filter]', '');
  await page.check('[data-testid=db-group-toggle]');
  await page.waitForSelector('.db-group-row');
  await page.uncheck('[data-testid=db-group-toggle]');
});

test('stats: charts draw, the picker previews a metric and puts it in a slot, the layout survives a reload', { skip }, async () => {
  await page.evaluate(() => localStorage.removeItem('osprey.db.layout.mysql'));
  await page.click(`[data-testid=db-row][data-name="${MYSQL}"]`);
  await page.waitForSelector('[data-testid=db-detail]');
  await page.waitForFunction((n) => document.querySelector('[data-testid=db-name]')?.textContent === n, MYSQL);
  await page.waitForSelector('[data-testid=stat-grid][data-grid="3"]');
  assert.equal((await page.$$('[data-testid=stat-grid] > .db-slot')).length, 9, '3×3 slots');
  await page.waitForSelector('[data-testid=slot-chart-0] canvas');
  await drawn('[data-testid=slot-0]', '[data-testid=slot-chart-0] canvas'); // Threads_running
  await drawn('[data-testid=slot-1]', '[data-testid=slot-chart-1] canvas'); // Questions/s (a rate: needs two samples)
  await until('most default charts with data', async () => (await page.$$eval('[data-testid=stat-grid] > .db-slot',
    (els) => els.filter((e) => Number(e.dataset.points) >= 2).length)) >= 7, 30000);
  assert.match(await page.textContent('[data-testid=slot-0] [data-testid=slot-title]'), /Threads_running/);
  await page.waitForTimeout(500);
  await shot(page, 'db-stats');

  // 2×2 shows four, 4×4 sixteen
  await page.click('[data-testid=grid-2]');
  await page.waitForSelector('[data-testid=stat-grid][data-grid="2"]');
  assert.equal((await page.$$('[data-testid=stat-grid] > .db-slot')).length, 4);
  await page.click('[data-testid=grid-4]');
  await page.waitForSelector('[data-testid=stat-grid][data-grid="4"]');
  assert.equal((await page.$$('[data-testid=stat-grid] > .db-slot')).length, 16);

  // replace slot 5 (index 4) from its menu
  await page.click('[data-testid=slot-menu-4]');
  await page.click('[data-testid=slot-4] [data-testid=slot-replace]');
  await page.waitForSelector('[data-testid=metric-picker]');
  await page.waitForSelector('[data-testid=picker-item]');
  await page.fill('[data-testid=picker-search]', 'threads_cached');
  const item = '[data-testid=picker-item][data-metric=mysql_global_status_threads_cached]';
  await page.waitForSelector(item);
  await page.hover(item);
  await page.waitForFunction(() => /Threads_cached/.test(document.querySelector('[data-testid=picker-preview-name]')?.textContent || ''));
  await page.waitForSelector('[data-testid=picker-preview-box][data-ready=true]');
  await drawn('[data-testid=picker-preview-box]', '[data-testid=picker-preview] canvas');
  await shot(page, 'db-picker');
  await page.click(item);
  assert.equal(await page.inputValue('[data-testid=picker-slot]'), '4', 'the slot whose menu opened the picker');
  await page.click('[data-testid=picker-replace]');
  await page.waitForSelector('[data-testid=metric-picker]', { state: 'detached' });
  await page.waitForSelector('[data-testid=slot-4][data-metrics=mysql_global_status_threads_cached]');
  assert.match(await page.textContent('[data-testid=slot-4] [data-testid=slot-title]'), /Threads_cached/);
  await drawn('[data-testid=slot-4]', '[data-testid=slot-chart-4] canvas');

  // the layout is kept across a reload
  await page.reload();
  await page.waitForSelector('[data-testid=stat-grid][data-grid="4"]');
  await page.waitForSelector('[data-testid=slot-4][data-metrics=mysql_global_status_threads_cached]');
  const saved = await page.evaluate(() => JSON.parse(localStorage.getItem('osprey.db.layout.mysql')));
  assert.equal(saved.grid, 4);
  assert.deepEqual(saved.slots[4].metrics, ['mysql_global_status_threads_cached']);
  await page.click('[data-testid=grid-3]');
  await page.waitForSelector('[data-testid=stat-grid][data-grid="3"]');
});

test('"Alert on this" creates a metric rule with the chart\'s query', { skip }, async () => {
  await page.click('[data-testid=slot-alert-0]');
  await page.waitForSelector('[data-testid=alert-dialog]');
  const expr = await page.inputValue('[data-testid=alert-expr]');
  assert.match(expr, /threads_running/);
  assert.match(expr, new RegExp(ids[MYSQL]));
  const name = `e2e ${MYSQL} threads running ${Date.now()}`;
  await page.fill('[data-testid=alert-name]', name);
  await page.fill('[data-testid=alert-threshold]', '50');
  await page.selectOption('[data-testid=alert-severity]', 'critical');
  assert.equal(await page.inputValue('[data-testid=alert-op]'), '>');
  assert.equal(await page.inputValue('[data-testid=alert-for]'), '1m');
  await shot(page, 'db-alert');
  await page.click('[data-testid=alert-submit]');
  await page.waitForSelector('[data-testid=alert-result]');
  const rules = await api('/api/v1/alerts/rules');
  const list = Array.isArray(rules) ? rules : rules.rules || [];
  const r = list.find((x) => x.name === name);
  assert.ok(r, 'the rule is listed');
  assert.equal(r.expr, expr);
  assert.equal(r.op, '>');
  assert.equal(r.threshold, 50);
  assert.equal(r.severity, 'critical');
  assert.equal(r.kind, 'metric');
  await page.click('[data-testid=alert-done]');
  await page.waitForSelector('[data-testid=alert-dialog]', { state: 'detached' });
});

test('sessions: trends on top, the long query in the list, moments stepped and kept in the URL', { skip }, async () => {
  await page.click('[data-testid=tab-sessions]');
  await page.waitForSelector('[data-testid=db-sessions]');
  assert.equal(new URL(page.url()).searchParams.get('tab'), 'sessions');
  await page.waitForSelector('[data-testid=trend-active] canvas');
  await until('the long query in the sessions list', () => page.evaluate((q) =>
    [...document.querySelectorAll('[data-testid=session-query]')].some((e) => e.textContent.includes(q)), LONG_QUERY), 45000);
  // its full text on click
  const row = page.locator('[data-testid=session-row]', { has: page.locator('[data-testid=session-query]', { hasText: LONG_QUERY }) }).first();
  await row.click();
  await page.waitForSelector('[data-testid=session-sql]');
  assert.ok((await page.textContent('[data-testid=session-sql]')).includes(LONG_QUERY));
  await drawn('[data-testid=trend-panel-active] .db-slot-now', '[data-testid=trend-active] canvas');
  await shot(page, 'db-sessions');

  // a step back picks an earlier sample and puts the moment in the URL
  const latest = await page.textContent('[data-testid=sess-time]');
  await page.click('[data-testid=sess-prev]');
  await page.waitForSelector('[data-testid=sess-past]');
  const at = Number(new URL(page.url()).searchParams.get('at'));
  assert.ok(at > 0, 'at= in the URL');
  await page.waitForFunction((l) => document.querySelector('[data-testid=sess-time]')?.textContent !== l, latest);
  await page.reload();
  await page.waitForSelector('[data-testid=sess-past]');
  assert.equal(Number(new URL(page.url()).searchParams.get('at')), at, 'the moment survives a reload');
  await page.click('[data-testid=sess-now]');
  await page.waitForSelector('[data-testid=sess-past]', { state: 'detached' });
  assert.equal(new URL(page.url()).searchParams.get('at'), null);

  // clicking a trend chart picks that moment
  await page.waitForSelector('[data-testid=trend-total] canvas');
  const box = await page.locator('[data-testid=trend-total]').boundingBox();
  await page.mouse.click(box.x + box.width * 0.8, box.y + box.height * 0.6);
  await page.waitForSelector('[data-testid=sess-past]');
  assert.ok(Number(new URL(page.url()).searchParams.get('at')) > 0);
  await page.click('[data-testid=sess-now]');
});

test('locks: the blocking tree with its root highlighted, the waiter on the lock table, both queries; history moments', { skip }, async () => {
  // the instance holding the test's lock
  const found = await until(`a lock wait on ${LOCK_TABLE}`, async () => {
    for (const name of [MYSQL, PG]) {
      const l = await api(`/api/v1/databases/${encodeURIComponent(ids[name])}/locks`);
      const w = (l.waits || []).find((x) => (x.table || '').includes(LOCK_TABLE));
      if (w) return { name, w };
    }
    return null;
  });
  await page.goto(`${URL_}/database/${encodeURIComponent(ids[found.name])}?tab=locks`);
  await page.waitForSelector('[data-testid=db-locks]');
  await page.waitForSelector('[data-testid=lock-root]', { timeout: 30000 });
  const root = page.locator('[data-testid=lock-root]', { has: page.locator('[data-testid=lock-blocking]') }).first();
  assert.ok(await root.evaluate((e) => e.classList.contains('root')));
  // highlighted: a red-ish left accent
  const accent = await root.evaluate((e) => getComputedStyle(e).borderLeftColor);
  const [r, g, b] = accent.match(/\d+/g).map(Number);
  assert.ok(r > 150 && r > g + 40 && r > b + 40, `root accent ${accent}`);
  assert.match(await root.locator('[data-testid=lock-blocking]').textContent(), /blocking \d+/);
  const waiter = page.locator('[data-testid=lock-waiter]', { has: page.locator('[data-testid=lock-table]', { hasText: LOCK_TABLE }) }).first();
  await waiter.waitFor();
  const waiterQuery = await waiter.locator('[data-testid=lock-query]').textContent();
  assert.ok(waiterQuery.trim().length > 0 && !waiterQuery.startsWith('('), `waiter query: ${waiterQuery}`);
  assert.ok(await waiter.locator('[data-testid=lock-query]').isVisible());
  const rootQuery = await root.locator('[data-testid=lock-query]').first().textContent();
  assert.ok(await root.locator('[data-testid=lock-query]').first().isVisible());
  if (found.w.holderQuery) assert.ok(rootQuery.includes(found.w.holderQuery.slice(0, 20)), `root query ${rootQuery} vs ${found.w.holderQuery}`);
  else assert.match(rootQuery, /no statement running/);
  await shot(page, 'db-locks');

  // a moment from the history shows the tree then; back to live
  await page.waitForSelector('[data-testid=lock-moment]', { timeout: 30000 });
  await page.click('[data-testid=lock-moment] >> nth=0');
  await page.waitForSelector('[data-testid=locks-past]');
  assert.ok(Number(new URL(page.url()).searchParams.get('at')) > 0);
  await page.waitForSelector('[data-testid=lock-root]');
  await page.click('[data-testid=locks-live]');
  await page.waitForSelector('[data-testid=locks-past]', { state: 'detached' });
  await page.waitForSelector('[data-testid=lock-root]');
});

test('SQL: PostgreSQL shows its statements or why they are not available', { skip }, async () => {
  await page.goto(`${URL_}/database/${encodeURIComponent(ids[PG])}?tab=sql`);
  await page.waitForSelector('[data-testid=db-sql]');
  await page.waitForSelector('[data-testid=sql-hint], [data-testid=sql-row], [data-testid=sql-panel] .panel-empty:not(:has-text("Loading"))', { timeout: 30000 });
  if (await page.$('[data-testid=sql-hint]')) {
    assert.match(await page.textContent('[data-testid=sql-hint]'), /pg_stat_statements|statement/i);
  } else if (await page.$('[data-testid=sql-row]')) {
    await page.click('[data-testid=sql-table] th[data-col=calls]');
    await page.waitForFunction(() => document.querySelector('[data-testid=sql-sort]').value === 'calls');
    await page.waitForSelector('[data-testid=sql-table] th.sorted[data-col=calls]');
    const [dl] = await Promise.all([page.waitForEvent('download'), page.click('[data-testid=sql-export]')]);
    assert.match(dl.suggestedFilename(), /\.csv$/);
  }
  await shot(page, 'db-sql');
  // MariaDB too: statements, or the performance_schema hint
  await page.goto(`${URL_}/database/${encodeURIComponent(ids[MYSQL])}?tab=sql`);
  await page.waitForSelector('[data-testid=sql-hint], [data-testid=sql-row], [data-testid=sql-panel] .panel-empty:not(:has-text("Loading"))', { timeout: 30000 });
});

test('no errors in the page', { skip }, () => {
  assert.deepEqual(errors.filter((e) => !/Failed to load resource/.test(e)), [], 'no errors in the page');
});
