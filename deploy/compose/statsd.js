{
  "_comment": "StatsD inside the graphite-statsd container: listen on every interface for the app containers; the namespace settings match deploy/statsd/config.js (what the dashboard queries).",
  "port": 8125,
  "address": "0.0.0.0",
  "mgmt_port": 8126,
  "flushInterval": 10000,
  "percentThreshold": [50, 95, 99],
  "deleteIdleStats": false,
  "backends": ["./backends/graphite"],
  "graphiteHost": "127.0.0.1",
  "graphitePort": 2003,
  "graphite": {
    "legacyNamespace": false,
    "globalPrefix": "stats",
    "prefixCounter": "counters",
    "prefixTimer": "timers",
    "prefixGauge": "gauges",
    "prefixSet": "sets"
  }
}
