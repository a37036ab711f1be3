"""Methods: each lives in one folder with one config file (conf/method/<name>.yaml) and exposes
`run(cfg) -> dict`, selected by `method.entry`."""
