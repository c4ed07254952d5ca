"""Generate, check and deploy a secure serverless AWS system as CloudFormation nested stacks."""

from infra.lazy_imports import defer

__version__ = "0.1.0"  # kept equal to pyproject.toml's version (tested)

# troposphere imports cfn_flip (and with it PyYAML) for Template.to_yaml, which the generator
# never calls: loaded on first use instead, it leaves the cold path (python -X importtime).
defer("cfn_flip")
