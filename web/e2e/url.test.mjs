// URL monitoring in the browser against a real server and agent:
// OSPREY_URL_TARGET_OK answers 200 "ok", OSPREY_URL_TARGET_BAD answers 500.
// Run by the Go e2e test (or by hand, see web/README.md).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { URL_, canvasInk, launch, login, newPage, shot } from './lib.mjs';

const OK = process.env.OSPREY_URL_TARGET_OK || '';
const BAD = process.env.OSPREY_URL_TARGET_BAD || '';
const skip = (!OK || !BAD) && 'OSPREY_URL_TARGET_OK and OSPREY_URL_TARGET_BAD not set';
const run = Date.now().toString(36);
const okName = `e2e ok ${run}`;
const badName = `e2e bad ${run}`;
// The agent fetches new checks every 30 s, then runs them on the interval.
const FIRST_RUN = 90000;

let browser, page, errors;
before(async () => {
  if (skip) return;
  browser = await launch();
  ({ page, errors } = await newPage(browser));
  await login(page);
});
after(async () => { await browser?.close(); });

const row = (name) => `[data-testid=url-table] tr:has([data-testid=url-name][data-check="${name}"])`;
const statusOf = (name) => page.evaluate((sel) => document.querySelector(sel + ' [data-testid=url-status]')?.dataset.status, row(name));

async function createCheck(name, url) {
  await page.click('[data-testid=url-new]');
  const f = '[data-testid=check-form]';
  await page.waitForSelector(f);
  await page.fill(`${f} input[name=name]`, name);
  await page.fill(`${f} input[name=url]`, url);
  await page.fill(`${f} input[name=interval]`, '5');
  await page.fill(`${f} input[name=timeout]`, '3000');
  await page.click('[data-testid=check-save]');
  await page.waitForSelector(f, { state: 'detached' });
  await page.waitForSelector(row(name));
}

test('the check form shows the server\'s validation error for a bad URL', { skip }, async () => {
  await page.goto(URL_ + '/url');
  await page.waitForSelector('[data-testid=url-list]');
  await page.click('[data-testid=url-new]');
  await page.waitForSelector('[data-testid=check-form]');
  await page.fill('[data-testid=check-form] input[name=name]', 'e2e invalid');
  await page.fill('[data-testid=check-form] input[name=url]', 'ftp://nowhere');
  await page.fill('[data-testid=check-form] input[name=expectedStatus]', '200, 204');
  await page.click('[data-testid=check-form] .ua-kv-rows button:has-text("Add header")');
  await page.fill('[data-testid=check-form] input[aria-label="Header 1"]', 'X-E2e');
  await page.fill('[data-testid=check-form] input[aria-label="Value 1"]', 'yes');
  await shot(page, 'url-form');
  await page.click('[data-testid=check-save]');
  await page.waitForSelector('[data-testid=check-error]');
  assert.match(await page.textContent('[data-testid=check-error]'), /url .*http:\/\/ or https:\/\//);
  // a client-side check too: the expected status list
  await page.fill('[data-testid=check-form] input[name=expectedStatus]', '2xx');
  await page.click('[data-testid=check-save]');
  await page.waitForFunction(() => /not a status code/.test(document.querySelector('[data-testid=check-error]')?.textContent || ''));
  await page.keyboard.press('Escape');
  await page.waitForSelector('[data-testid=check-form]', { state: 'detached' });
  assert.equal(await page.$(row('e2e invalid')), null, 'nothing was saved');
});

test('a check of a healthy URL turns up with a response time', { skip }, async () => {
  await createCheck(okName, OK);
  await page.waitForFunction((sel) => document.querySelector(sel + ' [data-testid=url-status]')?.dataset.status === 'up', row(okName), { timeout: FIRST_RUN });
  const ms = await page.textContent(`${row(okName)} [data-testid=url-ms]`);
  assert.match(ms, /^\d+(\.\d+)? (ms|s)$/, `latest time ${ms}`);
  assert.match(await page.textContent(row(okName)), /200/);
  assert.match(await page.textContent(row(okName)), /100%/);
});

test('a check of a failing URL shows down with the cause', { skip }, async () => {
  await createCheck(badName, BAD);
  await page.waitForFunction((sel) => document.querySelector(sel + ' [data-testid=url-status]')?.dataset.status === 'down', row(badName), { timeout: FIRST_RUN });
  await page.waitForSelector(`${row(badName)} [data-testid=url-cause]`);
  await page.waitForFunction((sel) => /status 500/.test(document.querySelector(sel + ' [data-testid=url-cause]')?.textContent || ''), row(badName));
  assert.match(await page.textContent('[data-testid=url-summary]'), /Down\s*[1-9]/);
  await shot(page, 'url-list');
});

test('pause and resume a check', { skip }, async () => {
  await page.click(`${row(okName)} [data-testid=url-pause]`);
  await page.waitForFunction((sel) => document.querySelector(sel + ' [data-testid=url-status]')?.dataset.status === 'paused', row(okName));
  assert.equal(await page.textContent(`${row(okName)} [data-testid=url-pause]`), 'Resume');
  await page.click(`${row(okName)} [data-testid=url-pause]`);
  await page.waitForFunction((sel) => document.querySelector(sel + ' [data-testid=url-status]')?.dataset.status !== 'paused', row(okName));
  assert.notEqual(await statusOf(okName), 'paused');
});

test('the detail page draws the response time and lists the runs with their cause', { skip }, async () => {
  await page.click(`${row(badName)} [data-testid=url-name]`);
  await page.waitForSelector('[data-testid=url-detail]');
  assert.match(new URL(page.url()).pathname, /^\/url\/\d+$/);
  await page.waitForFunction((n) => document.querySelector('[data-testid=url-detail-name]')?.textContent === n, badName);
  await page.waitForSelector('[data-testid=url-detail-status][data-status=down]');
  await page.waitForSelector('[data-testid=history-row]');
  assert.match(await page.textContent('[data-testid=history-cause] >> nth=0'), /Unexpected status: status 500/);
  await page.waitForSelector('[data-testid=chart-url-duration] canvas');
  await page.waitForSelector('[data-testid=chart-url-phases] canvas');
  await page.waitForFunction(() => document.querySelector('[data-testid=url-uptime] .stat-value')?.textContent.includes('%'));
  // the charts need two runs for a line
  await page.waitForFunction(() => { const c = document.querySelector('[data-testid=chart-url-duration] canvas'); return c && c.width > 0; });
  let ink = 0;
  for (let i = 0; i < 30 && ink <= 3; i++) { ink = await canvasInk(page, '[data-testid=chart-url-duration] canvas'); if (ink <= 3) await page.waitForTimeout(1000); }
  assert.ok(ink > 3, `the response-time chart is drawn (${ink} colours)`);
  // failures only: every row is a failure
  await page.check('[data-testid=history-failed]');
  await page.waitForSelector('[data-testid=history-row]');
  const rows = await page.$$eval('[data-testid=history-row]', (rs) => rs.map((r) => !!r.querySelector('[data-testid=history-cause]')));
  assert.ok(rows.length > 0 && rows.every(Boolean), 'only failed runs');
  await page.uncheck('[data-testid=history-failed]');
  await shot(page, 'url-detail');
});

test('dragging across the response-time chart zooms the range into the address', { skip }, async () => {
  await page.evaluate(() => document.querySelector('[data-testid=chart-url-duration]').scrollIntoView({ block: 'center' }));
  const before = page.url();
  const box = await page.locator('[data-testid=chart-url-duration]').boundingBox();
  const y = box.y + box.height / 2;
  await page.mouse.move(box.x + box.width * 0.5, y);
  await page.mouse.down();
  await page.mouse.move(box.x + box.width * 0.7, y, { steps: 8 });
  await page.mouse.move(box.x + box.width * 0.92, y, { steps: 8 });
  await page.mouse.up();
  await page.waitForFunction(() => /Go live/.test(document.querySelector('[data-testid=live-toggle]').textContent));
  await page.waitForFunction(() => /[?&]from=\d+&to=\d+/.test(location.search));
  const u = new URL(page.url());
  const from = Number(u.searchParams.get('from')); const to = Number(u.searchParams.get('to'));
  assert.ok(to > from && to - from < 900, `zoomed range ${from}..${to} (was ${before})`);
  await page.waitForSelector('[data-testid=history-row], [data-testid=url-history] .panel-empty');
  await page.click('[data-testid=live-toggle]');
  await page.waitForFunction(() => !/[?&]from=/.test(location.search));
});

test('delete a check (after confirming)', { skip }, async () => {
  await page.goto(URL_ + '/url');
  await page.waitForSelector(row(okName));
  page.once('dialog', (d) => d.accept());
  await page.click(`${row(okName)} [data-testid=url-delete]`);
  await page.waitForSelector(row(okName), { state: 'detached' });
  assert.deepEqual(errors.filter((e) => !/Failed to load resource/.test(e)), [], 'no errors in the page');
});
