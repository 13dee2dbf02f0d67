// The Layers module.
