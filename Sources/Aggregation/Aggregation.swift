// The Aggregation module.
