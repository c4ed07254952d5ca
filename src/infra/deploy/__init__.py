"""Deploy side: package, diff, preflight, deploy (a plan, then its execution: bootstrap, import of
retained resources, moves by stack refactor, the us-east-1 stack, the root), outputs, drift,
recover and destroy of the generated nested stacks. ARCHITECTURE.md maps the modules.

Everything AWS-facing goes through boto3 change sets. Importing this package (or
`infra.deploy.commands`) does not import boto3 or rich; the commands import them when they run,
so `generate.py templates` stays fast.
"""
