"""The Cognito user pool behind COGNITO routes, with secure defaults.

Admin-created users unless the config allows self sign-up; TOTP MFA (optional or required);
a long password with every character class; email-only recovery; threat protection (Cognito's
"advanced security", Plus feature plan) enforced by default; an app client for browsers (no
secret, SRP sign-in, revocable refresh tokens, no user-existence leaks).
"""
from __future__ import annotations

from typing import Any

from troposphere import Ref, cognito

from infra.config.schema import Cognito


def user_pool(logical_id: str, name: str, spec: Cognito, *, production: bool) -> cognito.UserPool:
    """The pool. Threat protection needs the Plus feature plan; without it the pool stays on
    Essentials (Cognito's default plan for new pools)."""
    props: dict[str, Any] = dict(
        UserPoolName=name,
        UsernameAttributes=["email"],
        AutoVerifiedAttributes=["email"],
        # TOTP only: SMS MFA would need an SNS role and is open to SIM swapping.
        MfaConfiguration=spec.mfa,
        EnabledMfas=["SOFTWARE_TOKEN_MFA"],
        Policies=cognito.Policies(PasswordPolicy=cognito.PasswordPolicy(
            MinimumLength=spec.password_min_length, RequireLowercase=True, RequireUppercase=True,
            RequireNumbers=True, RequireSymbols=True, TemporaryPasswordValidityDays=3)),
        AdminCreateUserConfig=cognito.AdminCreateUserConfig(AllowAdminCreateUserOnly=not spec.self_sign_up),
        AccountRecoverySetting=cognito.AccountRecoverySetting(RecoveryMechanisms=[
            cognito.RecoveryOption(Name="verified_email", Priority=1)]),
        DeletionProtection="ACTIVE" if production else "INACTIVE",
    )
    if spec.threat_protection != "OFF":
        props["UserPoolTier"] = "PLUS"
        props["UserPoolAddOns"] = cognito.UserPoolAddOns(AdvancedSecurityMode=spec.threat_protection)
    return cognito.UserPool(logical_id, **props)


def client(logical_id: str, name: str, pool: cognito.UserPool, spec: Cognito, scopes: list[str]) -> cognito.UserPoolClient:
    """The browser app client. With route scopes it also runs the OAuth code flow (PKCE is for
    the browser to use), the only way Cognito puts custom scopes into access tokens."""
    props: dict[str, Any] = dict(
        ClientName=name, UserPoolId=Ref(pool), GenerateSecret=False,
        ExplicitAuthFlows=["ALLOW_USER_SRP_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
        PreventUserExistenceErrors="ENABLED", EnableTokenRevocation=True,
        AccessTokenValidity=60, IdTokenValidity=60, RefreshTokenValidity=30,
        TokenValidityUnits=cognito.TokenValidityUnits(AccessToken="minutes", IdToken="minutes", RefreshToken="days"),
        SupportedIdentityProviders=["COGNITO"],
    )
    if scopes:
        props.update(AllowedOAuthFlows=["code"], AllowedOAuthFlowsUserPoolClient=True,
                     AllowedOAuthScopes=["openid", "email", *scopes], CallbackURLs=list(spec.callback_urls))
    return cognito.UserPoolClient(logical_id, **props)
