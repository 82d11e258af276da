// Resource-board render figures with many servers, from the board's own
// performance marks, in headless Chromium:
//   osprey loadgen --hosts 2000 --apps 0 --tps 0 --logs 0   (≈2 min first)
//   OSPREY_URL=… OSPREY_PASSWORD=… node web/e2e/scale.mjs [updates=12] [rangeSeconds=600]
// Prints time to first render (data fetched → painted), the fetch time, and
// per-update render times over the live 5-s refreshes.
import { URL_, launch, login, measures, newPage, shot } from './lib.mjs';

const updates = Number(process.argv[2] || 12);
const range = Number(process.argv[3] || 600);
const browser = await launch();
try {
  const { page, errors } = await newPage(browser);
  await login(page);
  const t0 = Date.now();
  await page.goto(`${URL_}/servers?range=${range}`);
  await page.waitForFunction(() => performance.getEntriesByName('osprey:board:first-render', 'measure').length > 0, null, { timeout: 120000 });
  const loadToPaint = Date.now() - t0;
  const info = await page.evaluate(() => document.querySelector('[data-testid=cpu-map-panel] .panel-extra .small')?.textContent || '');
  await page.waitForFunction((n) => performance.getEntriesByName('osprey:board:update', 'measure').length >= n, updates, { timeout: (updates + 6) * 6000 });
  const first = (await measures(page, 'osprey:board:first-render'))[0];
  const firstFetch = (await measures(page, 'osprey:board:first-fetch'))[0];
  const upd = await measures(page, 'osprey:board:update');
  const updFetch = await measures(page, 'osprey:board:update-fetch');
  // hover cost: redraws while moving over the map
  const box = await page.locator('[data-testid=cpu-map-canvas]').boundingBox();
  const h0 = Date.now();
  for (let i = 0; i < 60; i++) await page.mouse.move(box.x + 160 + i * ((box.width - 170) / 60), box.y + 20 + (i % 30) * 4);
  const hover = (Date.now() - h0) / 60;
  const draws = await measures(page, 'osprey:heatmap:draw');
  const stat = (a) => { const s = [...a].sort((x, y) => x - y); return { n: s.length, median: s[Math.floor(s.length / 2)], p95: s[Math.min(s.length - 1, Math.floor(s.length * 0.95))], max: s[s.length - 1] }; };
  const f = (v) => `${v.toFixed(1)} ms`;
  console.log(`board: ${info.trim()}`);
  console.log(`page load → first paint of the board (wall clock): ${loadToPaint} ms`);
  console.log(`first render, data fetched → painted: ${f(first)}   (its API fetch: ${f(firstFetch)})`);
  const u = stat(upd); const uf = stat(updFetch);
  console.log(`5-s updates, data fetched → painted: median ${f(u.median)}, p95 ${f(u.p95)}, max ${f(u.max)} over ${u.n} updates`);
  console.log(`5-s updates, API fetch: median ${f(uf.median)}, p95 ${f(uf.p95)}, max ${f(uf.max)}`);
  const d = stat(draws);
  console.log(`CPU map canvas draw: median ${f(d.median)}, p95 ${f(d.p95)}, max ${f(d.max)} over ${d.n} draws`);
  console.log(`hover over the map: ${hover.toFixed(1)} ms per mouse move (outline + tooltip, including the playwright round trip)`);
  await page.mouse.move(box.x + box.width - 40, box.y + 40);
  await shot(page, 'resource-board-2000');
  if (errors.length) console.log('page errors:', errors);
} finally {
  await browser.close();
}
