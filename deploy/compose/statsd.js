// StatsD inside the graphite-statsd container: the one config (deploy/statsd/config.js, mounted as
// base.json), listening on every interface for the app containers. StatsD evals this file.
Object.assign(require("/opt/statsd/config/base.json"), {address: "0.0.0.0", mgmt_address: "0.0.0.0"})
