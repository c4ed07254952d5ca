"""Generate, check and deploy a secure serverless AWS system as CloudFormation nested stacks."""
