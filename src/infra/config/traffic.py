"""How a new function version may reach traffic: CodeDeploy's predefined Lambda deployment
configurations under readable names, and the two custom shapes.

The predefined configurations ("Deployment configurations on an AWS Lambda compute platform",
https://docs.aws.amazon.com/codedeploy/latest/userguide/deployment-configurations.html): a canary
moves its percentage at once and the rest after its interval; a linear one moves its percentage
every interval until all traffic has moved.
"""
from __future__ import annotations

from typing import NamedTuple

ALL_AT_ONCE, CANARY, LINEAR = "all-at-once", "canary", "linear"


class Preset(NamedTuple):
    kind: str            # ALL_AT_ONCE, CANARY or LINEAR
    percent: int         # the first step (canary) or every step (linear)
    interval: int        # minutes between steps
    codedeploy: str      # CodeDeploy's name for it


PRESETS: dict[str, Preset] = {
    ALL_AT_ONCE: Preset(ALL_AT_ONCE, 100, 0, "CodeDeployDefault.LambdaAllAtOnce"),
    **{f"canary-10-percent-{m}-minutes": Preset(CANARY, 10, m, f"CodeDeployDefault.LambdaCanary10Percent{m}Minutes")
       for m in (5, 10, 15, 30)},
    **{f"linear-10-percent-every-{m}-minute{'s' if m > 1 else ''}":
       Preset(LINEAR, 10, m, f"CodeDeployDefault.LambdaLinear10PercentEvery{m}Minute{'s' if m > 1 else ''}")
       for m in (1, 2, 3, 10)},
}
# `traffic = "canary"` or `"linear"` with `percent` and `interval_minutes`: a custom deployment
# configuration (AWS::CodeDeploy::DeploymentConfig) generated beside the function.
CUSTOM = (CANARY, LINEAR)
CHOICES = (*PRESETS, *CUSTOM)
# What production functions do when the config does not say: a canary long enough for the
# default alarms (2 periods of 5 minutes) to fire before all traffic has moved.
PRODUCTION_DEFAULT = "canary-10-percent-15-minutes"
