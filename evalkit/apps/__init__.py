"""APPS (Hendrycks et al. 2021): data and prompts (``data``), testing_util's rules (``rules``), the sample's module and
its serving runner (``program``), the sandbox spec, driver and verdict (``judge``)."""
