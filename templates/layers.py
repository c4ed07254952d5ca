"""The layers stack: one Lambda layer version per shared set of dependencies (`layer = true`).

Each layer holds the dependencies of one lockfile for one runtime and architecture, under
python/ (the folder Lambda puts on a Python function's sys.path); every function that uses it
reads its ARN from the parameter `<Layer>Arn`, which the root fills from this stack's output.
A layer version is immutable: new dependencies are a new version (a replacement), which
CloudFormation creates before it updates the functions and deletes the old one after.
"""
from __future__ import annotations

from troposphere import Ref, awslambda

from infra.bundle.build import Layer
from infra.config.schema import Config
from infra.naming import physical
from infra.stack import Stack

MAX_LAYER_NAME = 140  # AWS::Lambda::LayerVersion LayerName


def layer_name(cfg: Config, layer: Layer) -> str:
    name = physical(cfg, layer.name)
    return name if len(name) <= MAX_LAYER_NAME else name[:MAX_LAYER_NAME - 9] + "-" + layer.logical_id[-8:].lower()


def build(cfg: Config, stack: str, layers: list[Layer]) -> Stack:
    """The stack `stack` (placement names it) holding every shared dependency layer."""
    st = Stack(cfg, stack, f"{physical(cfg)} {stack}: shared dependency layers")
    bucket = st.param("AssetBucket", "S3 bucket holding the zipped handler code")
    for layer in sorted(layers, key=lambda item: item.logical_id):
        version = st.add(awslambda.LayerVersion(
            layer.logical_id, LayerName=layer_name(cfg, layer),
            Description=f"Dependencies of {layer.lockfile} for {layer.runtime} on {layer.architecture}"[:256],
            Content=awslambda.Content(S3Bucket=bucket, S3Key=layer.asset.key),
            CompatibleRuntimes=[layer.runtime], CompatibleArchitectures=[layer.architecture]))
        st.output(f"{layer.logical_id}Arn", Ref(version), f"ARN of the layer version of {layer.lockfile} "
                                                          f"({layer.runtime}, {layer.architecture})")
    return st
