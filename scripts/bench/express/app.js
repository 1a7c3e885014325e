// app.js
var express = require("express");
var os = require("os");

var app = express();
var port = process.env.PORT || 3000;

app.use(express.json());

// Health check endpoint
app.get("/health", function(req, res) {
  res.status(200).json({
    status: "healthy",
    hostname: os.hostname(),
    uptime: process.uptime(),
    timestamp: Date.now()
  });
});

// Main API endpoint
app.get("/api/info", function(req, res) {
  res.json({
    service: "node-api",
    version: process.env.APP_VERSION || "1.0.0",
    environment: process.env.NODE_ENV || "development",
    hostname: os.hostname()
  });
});

app.get("/api/items", function(req, res) {
  // Simulated data — in production this would query a database
  var items = [
    { id: 1, name: "Widget A", price: 29.99 },
    { id: 2, name: "Widget B", price: 49.99 },
    { id: 3, name: "Widget C", price: 19.99 }
  ];
  res.json({ items: items, count: items.length });
});

// Graceful shutdown handler
process.on("SIGTERM", function() {
  console.log(JSON.stringify({
    level: "info",
    message: "SIGTERM received, shutting down gracefully",
    timestamp: new Date().toISOString()
  }));
  server.close(function() {
    console.log(JSON.stringify({
      level: "info",
      message: "Server closed",
      timestamp: new Date().toISOString()
    }));
    process.exit(0);
  });
});

var server = app.listen(port, function() {
  console.log(JSON.stringify({
    level: "info",
    message: "Server started on port " + port,
    timestamp: new Date().toISOString()
  }));
});

module.exports = app;
