"""paper-profiles: a Prefect pipeline that turns raw researcher profile text into open datasets."""

from flows.settings import apply_prefect_env_defaults

apply_prefect_env_defaults()
