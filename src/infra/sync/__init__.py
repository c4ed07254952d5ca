"""`sync` and `watch`: code and configuration changes to a development stage in seconds.

- `compare`: what differs between the deployed templates and the generated ones, sorted into what
  sync may apply outside CloudFormation (function code, environment, memory, timeout; the API's
  OpenAPI document) and everything else, which only a deploy may change (pure).
- `resolve`: the few intrinsics a synced value may hold (Ref to a parameter, Fn::Sub, pseudo
  parameters), resolved against the deployed stack (pure).
- `deployed`: the deployed side, read through the nested stacks and cached (thin I/O).
- `apply`: Lambda and API Gateway updates, each waited for and never left half-done.
- `infra.deploy.sync_ledger` (in the deploy layer, which shows it): what sync applied, kept beside
  the stage's artifacts, so that `diff` and `drift` show it as synced until the next deploy records it.
- `run`: the sync command; `watch`: the long-lived loop.
"""
