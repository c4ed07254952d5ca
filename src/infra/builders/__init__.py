"""Secure-default resource builders: encryption, logging, retention and access blocks built in."""

# The header CloudFront adds to every origin request, carrying the origin-verification secret.
ORIGIN_VERIFY_HEADER = "X-Origin-Verify"


def origin_verify_value(secret_arn):
    """The secret's value as a dynamic reference: CloudFormation resolves it at deploy time, so it
    never appears in a template."""
    from troposphere import Sub

    return Sub("{{resolve:secretsmanager:${Arn}:SecretString}}", Arn=secret_arn)
