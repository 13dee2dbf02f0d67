// The Experiments module.
