"""Deploy side: package, diff, preflight, deploy (with import of retained resources), outputs, drift
and destroy of the generated nested stacks.

Everything AWS-facing goes through boto3 change sets. Importing this package (or
`infra.deploy.commands`) does not import boto3 or rich; the commands import them when they run,
so `generate.py templates` stays fast.
"""
