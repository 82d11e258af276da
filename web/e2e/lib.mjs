// Shared helpers of the browser tests: Debian's Chromium driven by
// playwright-core (never a downloaded browser), against a running server.
import { chromium } from 'playwright-core';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';

export const URL_ = (process.env.OSPREY_URL || 'http://127.0.0.1:8800').replace(/\/$/, '');
export const USER = process.env.OSPREY_USER || 'admin';
export const PASSWORD = process.env.OSPREY_PASSWORD || '';
export const SHOTS = process.env.OSPREY_SCREENSHOTS || '';
export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';

export async function launch() {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
}

export async function newPage(browser, opts = {}) {
  const ctx = await browser.newContext({ viewport: { width: 1600, height: 1000 }, deviceScaleFactor: 1, ...opts });
  const page = await ctx.newPage();
  page.setDefaultTimeout(20000);
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('console', (m) => { if (m.type() === 'error' && !/status of 40[14]/.test(m.text())) errors.push(m.text()); });
  return { ctx, page, errors };
}

export async function login(page) {
  await page.goto(URL_ + '/');
  await page.fill('input[name=user]', USER);
  await page.fill('input[name=password]', PASSWORD);
  await page.click('button[type=submit]');
  await page.waitForSelector('.sidebar');
}

// shot saves a screenshot when OSPREY_SCREENSHOTS names a directory.
export async function shot(page, name, opts = {}) {
  if (!SHOTS) return;
  mkdirSync(SHOTS, { recursive: true });
  if (!opts.keepScroll) await page.evaluate(() => { const c = document.querySelector('.content'); if (c) c.scrollTop = 0; });
  delete opts.keepScroll;
  await page.waitForTimeout(300);
  await page.screenshot({ path: join(SHOTS, name + '.png'), ...opts });
}

// canvasInk says whether a canvas has more than one colour drawn on it.
export function canvasInk(page, selector) {
  return page.evaluate((sel) => {
    const c = document.querySelector(sel);
    if (!c) return 0;
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    const seen = new Set();
    for (let i = 0; i < d.length; i += 4 * 97) seen.add((d[i] << 16) | (d[i + 1] << 8) | d[i + 2]);
    return seen.size;
  }, selector);
}

export function measures(page, name) {
  return page.evaluate((n) => performance.getEntriesByName(n, 'measure').map((m) => m.duration), name);
}

// pageAPI calls the HTTP API from the page, with its session and project.
export function pageAPI(page, path) {
  return page.evaluate(async (p) => {
    const res = await fetch(p, { credentials: 'same-origin', headers: { Accept: 'application/json', 'X-Osprey-Project': localStorage.getItem('osprey.project') || 'default' } });
    const body = await res.json().catch(() => null);
    if (!res.ok || body?.status !== 'success') throw new Error(`${p}: ${res.status} ${body?.error || ''}`);
    return body.data;
  }, path);
}

// untilOn polls f every `every` ms until it returns something truthy, or
// fails after timeout with the last error it threw.
export async function untilOn(page, what, f, timeout = 60000, every = 1000) {
  const end = Date.now() + timeout;
  let last;
  for (;;) {
    try { const v = await f(); if (v) return v; } catch (e) { last = e; }
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}${last ? `: ${last.message}` : ''}`);
    await page.waitForTimeout(every);
  }
}
