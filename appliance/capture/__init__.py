"""The camera side of the appliance: `foley capture` (daemon) and `foley record` (its client)."""
