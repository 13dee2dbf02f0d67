// The Autodiff module.
