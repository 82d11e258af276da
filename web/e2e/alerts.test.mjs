// Alerting in the browser against a real server and agent: a webhook
// channel (OSPREY_WEBHOOK_URL records posts; GET <it>/received lists
// them), a URL-down rule for a check of OSPREY_URL_TARGET_BAD (answers
// 500), the alert firing, acknowledged and in the history, and a
// maintenance window. Run by the Go e2e test (or by hand, see web/README.md).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { PASSWORD, URL_, USER, launch, login, newPage, shot } from './lib.mjs';

const BAD = process.env.OSPREY_URL_TARGET_BAD || '';
const HOOK = (process.env.OSPREY_WEBHOOK_URL || '').replace(/\/$/, '');
const skip = (!BAD || !HOOK) && 'OSPREY_URL_TARGET_BAD and OSPREY_WEBHOOK_URL not set';
const run = Date.now().toString(36);
const chanName = `e2e hook ${run}`;
const ruleName = `e2e url down ${run}`;
const windowName = `e2e window ${run}`;
// The agent fetches new checks every 30 s; the server evaluates rules every few seconds.
const FIRING = 120000;

let browser, page, errors, checkId;

// api calls the HTTP API outside the browser (basic auth) for set-up.
async function api(method, path, body) {
  const res = await fetch(URL_ + path, {
    method,
    headers: { Authorization: 'Basic ' + Buffer.from(`${USER}:${PASSWORD}`).toString('base64'), 'Content-Type': 'application/json', 'X-Osprey-Project': 'default' },
    body: body ? JSON.stringify(body) : undefined,
  });
  const j = await res.json();
  assert.equal(j.status, 'success', `${method} ${path}: ${j.error}`);
  return j.data;
}
// received lists the bodies the webhook receiver got, parsed when JSON.
const received = async () => {
  const r = await fetch(HOOK + '/received');
  return (await r.json()).map((x) => { if (typeof x !== 'string') return x; try { return JSON.parse(x); } catch { return x; } });
};
async function waitReceived(match, what, timeout) {
  const end = Date.now() + timeout;
  for (;;) {
    const got = await received();
    if (got.some((b) => match(b))) return got;
    if (Date.now() > end) assert.fail(`the webhook receiver got no ${what} in ${got.length} posts`);
    await new Promise((r) => setTimeout(r, 1000));
  }
}

before(async () => {
  if (skip) return;
  // the check the rule watches (the URL test builds its own through the form)
  const c = await api('POST', '/api/v1/urls/checks', { name: `e2e alert target ${run}`, url: BAD, intervalSeconds: 5, timeoutMs: 3000, enabled: true });
  checkId = c.id;
  browser = await launch();
  ({ page, errors } = await newPage(browser));
  await login(page);
});
after(async () => { await browser?.close(); });

test('a webhook channel is created in the editor and its test reaches the receiver', { skip }, async () => {
  await page.goto(URL_ + '/alerts/channels');
  await page.waitForSelector('[data-testid=channels-page]');
  await page.click('[data-testid=channel-new]');
  const ed = '[data-testid=channel-editor]';
  await page.waitForSelector(ed);
  await page.fill(`${ed} input[name=name]`, chanName);
  await page.click(`${ed} [data-testid=channel-type] [data-value=webhook]`);
  await page.fill(`${ed} input[name=url]`, HOOK);
  // the test of the unsaved channel
  await page.click('[data-testid=channel-test]');
  await page.waitForSelector('[data-testid=channel-test-result][data-ok]');
  assert.equal(await page.getAttribute('[data-testid=channel-test-result]', 'data-ok'), 'true', await page.textContent('[data-testid=channel-test-result]'));
  assert.match(await page.textContent('[data-testid=channel-test-result]'), /Sent/);
  await waitReceived((b) => /Test notification/.test(typeof b === 'string' ? b : b.summary), 'test notification', 10000);
  await shot(page, 'alerts-channel-editor');
  await page.click('[data-testid=channel-save]');
  await page.waitForSelector(ed, { state: 'detached' });
  const row = `[data-testid=channel-table] tr:has([data-testid=channel-name]:text-is("${chanName}"))`;
  await page.waitForSelector(row);
  // and the test of the saved channel, from the list
  const before = (await received()).length;
  await page.click(`${row} [data-testid=channel-row-test]`);
  await page.waitForSelector(`${row} [data-testid=channel-row-test-result][data-ok=true]`);
  assert.ok((await received()).length > before, 'the receiver got the second test');
  await shot(page, 'alerts-channels');
});

test('the rule editor shows the server\'s error and previews a metric rule', { skip }, async () => {
  await page.goto(URL_ + '/alerts/rules');
  await page.waitForSelector('[data-testid=rules-page]');
  await page.click('[data-testid=rule-new]');
  const ed = '[data-testid=rule-editor]';
  await page.waitForSelector(ed);
  await page.fill(`${ed} input[name=name]`, 'e2e broken');
  await page.click(`${ed} [data-testid=rule-kind] [data-value=metric]`);
  await page.fill(`${ed} textarea[name=expr]`, 'osprey_url_up{');
  await page.click('[data-testid=rule-save]');
  await page.waitForSelector('[data-testid=rule-error]');
  assert.match(await page.textContent('[data-testid=rule-error]'), /expr/);
  // preview: the current values and which would fire
  await page.fill(`${ed} textarea[name=expr]`, `osprey_url_up{url_check_id="${checkId}"}`);
  await page.selectOption(`${ed} select[name=op]`, '<');
  await page.fill(`${ed} input[name=threshold]`, '1');
  await page.click('[data-testid=rule-preview-run]');
  await page.waitForSelector('[data-testid=rule-preview]');
  assert.match(await page.textContent('[data-testid=rule-preview]'), /\d+ series now · \d+ would fire/);
  await page.keyboard.press('Escape');
  await page.waitForSelector(ed, { state: 'detached' });
});

test('a URL-down rule is created in the editor', { skip }, async () => {
  await page.click('[data-testid=rule-new]');
  const ed = '[data-testid=rule-editor]';
  await page.waitForSelector(ed);
  await page.fill(`${ed} input[name=name]`, ruleName);
  await page.click(`${ed} [data-testid=rule-kind] [data-value=url]`);
  await page.selectOption('[data-testid=rule-check]', String(checkId));
  await page.click(`${ed} [data-testid=rule-condition] [data-value=down]`);
  await page.click(`${ed} [data-testid=rule-severity] [data-value=critical]`);
  await page.fill(`${ed} input[name=for]`, '0s');
  await page.fill(`${ed} input[name=repeat]`, '0s');
  await page.check(`[data-testid=rule-channels] label:has-text("${chanName}") input`);
  await shot(page, 'alerts-rule-editor');
  await page.click('[data-testid=rule-save]');
  await page.waitForSelector(ed, { state: 'detached' });
  const row = `[data-testid=rule-table] tr:has([data-testid=rule-name]:text-is("${ruleName}"))`;
  await page.waitForSelector(row);
  assert.match(await page.textContent(row), /e2e alert target .* is down/);
  assert.match(await page.textContent(row), /critical/i);
  assert.match(await page.textContent(row), new RegExp(chanName));
});

test('the alert fires, is acknowledged and both show in the history', { skip }, async () => {
  await page.goto(URL_ + '/alerts');
  await page.waitForSelector('[data-testid=alerts-page]');
  const row = `[data-testid=alert-row][data-rule="${ruleName}"]`;
  await page.waitForSelector(`${row}[data-status=firing]`, { timeout: FIRING });
  assert.match(await page.textContent(row), /is down/);
  // the firing notification went to the rule's channel
  await waitReceived((b) => b.state === 'firing' && b.ruleName === ruleName, `firing notification of ${ruleName}`, 30000);
  await page.click(`${row} [data-testid=alert-ack]`);
  await page.waitForSelector(`${row} [data-testid=alert-acked]`);
  assert.match(await page.textContent(`${row} [data-testid=alert-acked]`), new RegExp(`acknowledged by ${USER}`));
  const ev = (state) => `[data-testid=alert-history] [data-testid=history-event][data-rule="${ruleName}"][data-state=${state}]`;
  await page.waitForSelector(ev('firing'), { timeout: 20000 });
  await page.waitForSelector(ev('acknowledged'), { timeout: 20000 });
  assert.match(await page.textContent(ev('acknowledged')), new RegExp(USER));
  // the history narrows to one rule
  const ruleId = await page.$eval('[data-testid=history-rule]', (s, n) => [...s.options].find((o) => o.textContent === n)?.value, ruleName);
  await page.selectOption('[data-testid=history-rule]', ruleId);
  await page.waitForFunction((n) => {
    const rows = [...document.querySelectorAll('[data-testid=alert-history] [data-testid=history-event]')];
    return rows.length > 0 && rows.every((r) => r.dataset.rule === n);
  }, ruleName);
  await shot(page, 'alerts-list');
});

test('a maintenance window is created and shown as active', { skip }, async () => {
  await page.goto(URL_ + '/alerts/maintenance');
  await page.waitForSelector('[data-testid=maintenance-page]');
  await page.click('[data-testid=maintenance-new]');
  const ed = '[data-testid=maintenance-editor]';
  await page.waitForSelector(ed);
  await page.fill(`${ed} input[name=name]`, windowName);
  await page.click(`${ed} button:has-text("2h")`);
  await page.check(`[data-testid=maintenance-rules] label:has-text("${ruleName}") input`);
  await page.fill(`${ed} textarea[name=reason]`, 'e2e: planned restart');
  // an end before the start is refused with words
  const start = await page.inputValue(`${ed} input[name=start]`);
  await page.fill(`${ed} input[name=end]`, start.replace(/T\d\d/, 'T00').replace(/^(\d{4})/, (y) => String(Number(y) - 1)));
  await page.click('[data-testid=maintenance-save]');
  await page.waitForSelector('[data-testid=maintenance-error]');
  assert.match(await page.textContent('[data-testid=maintenance-error]'), /end must be after the start/);
  await page.click(`${ed} button:has-text("2h")`);
  await page.click('[data-testid=maintenance-save]');
  await page.waitForSelector(ed, { state: 'detached' });
  const row = `[data-testid=maintenance-row][data-name="${windowName}"]`;
  await page.waitForSelector(row);
  assert.equal(await page.getAttribute(row, 'data-phase'), 'active');
  assert.match(await page.textContent(row), new RegExp(ruleName));
  await shot(page, 'alerts-maintenance');
  assert.deepEqual(errors.filter((e) => !/Failed to load resource/.test(e)), [], 'no errors in the page');
});
