'use strict';
// nodeinv: the inventory service of Osprey's APM end-to-end test. It has no
// tracing code of its own: it is started with
//   node --require @opentelemetry/auto-instrumentations-node/register server.js
// and OTEL_* variables, like any app instrumented without code changes.
//
//   GET /items          one PostgreSQL query (with a literal, which Osprey masks)
//   GET /stock/:sku     one PostgreSQL query, then GET SHOP_URL/api/price/:sku
//                       (the Go shop calls this, so a trace runs Go → Node → Go)
//
// Settings: PORT, SHOP_URL, and the pg client's PGHOST, PGPORT, PGUSER,
// PGDATABASE; PGTABLE names the stock table.
const http = require('node:http');
const express = require('express');
const { Pool } = require('pg');

const port = Number(process.env.PORT || 3000);
const shopURL = process.env.SHOP_URL || 'http://127.0.0.1:8080';
const table = process.env.PGTABLE || 'stock';
if (!/^[a-z_][a-z0-9_]*$/.test(table)) throw new Error('bad PGTABLE ' + table);
const pool = new Pool({ max: 4 });

function getJSON(url) {
  return new Promise((resolve, reject) => {
    http
      .get(url, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c) => (body += c));
        res.on('end', () => {
          if (res.statusCode !== 200) return reject(new Error(`GET ${url}: ${res.statusCode} ${body}`));
          try {
            resolve(JSON.parse(body));
          } catch (e) {
            reject(e);
          }
        });
      })
      .on('error', reject);
  });
}

const app = express();

app.get('/items', async (req, res, next) => {
  try {
    const r = await pool.query(`SELECT sku, qty FROM ${table} WHERE qty > 0 ORDER BY sku`);
    res.json(r.rows);
  } catch (e) {
    next(e);
  }
});

app.get('/stock/:sku', async (req, res, next) => {
  try {
    const r = await pool.query(`SELECT qty FROM ${table} WHERE sku = $1`, [req.params.sku]);
    if (r.rows.length === 0) return res.status(404).json({ error: 'unknown sku' });
    const price = await getJSON(`${shopURL}/api/price/${encodeURIComponent(req.params.sku)}`);
    res.json({ sku: req.params.sku, qty: r.rows[0].qty, price: price.price });
  } catch (e) {
    next(e);
  }
});

const server = app.listen(port, '127.0.0.1', () => console.log(`nodeinv listening on 127.0.0.1:${port}`));

// The OpenTelemetry SDK flushes its spans on SIGTERM too: stop serving and
// let the process end when nothing is left to do.
function shutdown() {
  server.close();
  server.closeAllConnections();
  pool.end().catch(() => {});
  setTimeout(() => process.exit(0), 5000).unref();
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
