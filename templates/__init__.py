"""One module per nested stack; each exposes a pure `build(cfg, ...) -> Stack`."""
