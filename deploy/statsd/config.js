{
  "_comment": "Etsy StatsD config for tornado-paste. Plain JSON (StatsD evals it) so tests can read and override it.",
  "address": "127.0.0.1",
  "port": 8125,
  "mgmt_address": "127.0.0.1",
  "mgmt_port": 8126,
  "flushInterval": 10000,
  "percentThreshold": [50, 95, 99],
  "deleteIdleStats": false,
  "_comment_gauges": "Per-process gauges (proc.<host>.<worker>.*) are re-sent every second; one nobody re-sent for 2 flushes is a dead process: stop sending it, so it cannot inflate a sumSeries.",
  "deleteGauges": true,
  "gaugesMaxTTL": 2,
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
