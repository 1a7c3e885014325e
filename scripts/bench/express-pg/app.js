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

var server = app.listen(port, function () {
  console.log(JSON.stringify({ level: "info", message: "Server started on port " + port, timestamp: new Date().toISOString() }));
});

process.on("SIGTERM", function () {
  server.close(function () { pool.end().then(function () { process.exit(0); }); });
});
