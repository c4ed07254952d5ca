"""Generate, check and deploy a secure serverless AWS system as CloudFormation nested stacks."""

__version__ = "0.1.0"  # kept equal to pyproject.toml's version (tested)
