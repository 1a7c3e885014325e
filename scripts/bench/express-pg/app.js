// The tutorial's Express app with /api/items reading PostgreSQL through a pg
// Pool ("in production this would query a database"), for the database
// benchmark. Same query and JSON as node-api's PostgreSQL store.
var express = require("express");
var { Pool } = require("pg");

var app = express();
var port = process.env.PORT || 3000;
var pool = new Pool({ connectionString: process.env.DATABASE_URL, max: Number(process.env.DB_POOL_SIZE || 10) });

app.get("/api/items", function (req, res, next) {
  pool.query("SELECT id, name, price FROM items ORDER BY id LIMIT 100 OFFSET 0")
    .then(function (result) {
      var items = result.rows.map(function (r) {
        return { id: Number(r.id), name: r.name, price: Number(r.price) };
      });
      res.json({ items: items, count: items.length });
    })
    .catch(next);
});

// Writes, as node-api's PostgreSQL store does them (one statement each, the same SQL), behind
// the same API key check, with express.json() as the tutorial's app parses bodies: for the
// write benchmark.
var apiKey = process.env.API_KEY || "";

function authorized(req, res) {
  var auth = req.get("Authorization") || "";
  var key = auth.startsWith("Bearer ") ? auth.slice(7) : req.get("X-API-Key");
  if (!apiKey) {
    res.status(403).json({ error: { status: 403, message: "writes are disabled" } });
    return false;
  }
  if (key !== apiKey) {
    res.status(401).json({ error: { status: 401, message: "API key required" } });
    return false;
  }
  return true;
}

function item(r) {
  return { id: Number(r.id), name: r.name, price: Number(r.price) };
}

function valid(b) {
  return b && typeof b.name === "string" && b.name.length > 0 && typeof b.price === "number" && b.price >= 0;
}

app.use(express.json());

app.post("/api/items", function (req, res, next) {
  if (!authorized(req, res)) return;
  if (!valid(req.body)) return res.status(400).json({ error: { status: 400, message: "bad item" } });
  pool.query("INSERT INTO items (name, price) VALUES ($1, $2::numeric) RETURNING id, name, price",
             [req.body.name, req.body.price])
    .then(function (result) {
      var it = item(result.rows[0]);
      res.status(201).location("/api/items/" + it.id).json(it);
    })
    .catch(next);
});

app.put("/api/items/:id", function (req, res, next) {
  if (!authorized(req, res)) return;
  if (!valid(req.body)) return res.status(400).json({ error: { status: 400, message: "bad item" } });
  pool.query("UPDATE items SET name = $2, price = $3::numeric, updated_at = now() WHERE id = $1 " +
             "RETURNING id, name, price", [req.params.id, req.body.name, req.body.price])
    .then(function (result) {
      if (!result.rows.length) return res.status(404).json({ error: { status: 404, message: "no such item" } });
      res.json(item(result.rows[0]));
    })
    .catch(next);
});

app.delete("/api/items/:id", function (req, res, next) {
  if (!authorized(req, res)) return;
  pool.query("DELETE FROM items WHERE id = $1", [req.params.id])
    .then(function (result) {
      if (!result.rowCount) return res.status(404).json({ error: { status: 404, message: "no such item" } });
      res.status(204).end();
    })
    .catch(next);
});

var server = app.listen(port, function () {
  console.log(JSON.stringify({ level: "info", message: "Server started on port " + port, timestamp: new Date().toISOString() }));
});

process.on("SIGTERM", function () {
  server.close(function () { pool.end().then(function () { process.exit(0); }); });
});
