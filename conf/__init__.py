"""Example configurations, installed with the package: `elasticc-stream conf list`, `conf show NAME`."""
