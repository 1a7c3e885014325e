// The tutorial's three routes on Fastify 5, the fastest common Node framework,
// with the same bodies, for the benchmark.
"use strict";
var os = require("os");
var fastify = require("fastify")({ logger: false });
var port = process.env.PORT || 3000;

fastify.get("/health", function (req, reply) {
  reply.send({ status: "healthy", hostname: os.hostname(), uptime: process.uptime(), timestamp: Date.now() });
});

fastify.get("/api/info", function (req, reply) {
  reply.send({
    service: "node-api",
    version: process.env.APP_VERSION || "1.0.0",
    environment: process.env.NODE_ENV || "development",
    hostname: os.hostname()
  });
});

fastify.get("/api/items", function (req, reply) {
  var items = [
    { id: 1, name: "Widget A", price: 29.99 },
    { id: 2, name: "Widget B", price: 49.99 },
    { id: 3, name: "Widget C", price: 19.99 }
  ];
  reply.send({ items: items, count: items.length });
});

process.on("SIGTERM", function () {
  fastify.close().then(function () { process.exit(0); });
});

fastify.listen({ port: Number(port), host: "0.0.0.0" }).then(function () {
  console.log(JSON.stringify({ level: "info", message: "Server started on port " + port, timestamp: new Date().toISOString() }));
});
