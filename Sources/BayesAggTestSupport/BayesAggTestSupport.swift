// The BayesAggTestSupport module.
