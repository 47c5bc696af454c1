"""The scoring engine: video (+ description) → synchronized Foley track and timeline."""
