"""API stack: the REST API, defined by one OpenAPI document (routes, models, validation, CORS).

Deployed before the functions: nothing here waits for them (integrations name each function by
its fixed ARN), and the functions' invoke permissions need this API's ID. The stage that
serves the definition is in the api-stage stack, deployed after every function.
"""
from __future__ import annotations

from troposphere import GetAtt, Ref, Sub, apigateway as agw

from infra.config.schema import Config
from infra.naming import physical
from infra.openapi import USER_POOL_ARN, api_name, creates_user_pool, definition
from infra.stack import Stack


def build(cfg: Config) -> Stack:
    """The RestApi with its OpenAPI Body."""
    api = cfg.api
    st = Stack(cfg, "api", f"{physical(cfg)} api: REST API {api_name(cfg)} (OpenAPI definition)")
    if creates_user_pool(cfg):
        st.param(USER_POOL_ARN, "ARN of the Cognito user pool (COGNITO routes)")
    rest = st.add(agw.RestApi(
        "RestApi", Name=api_name(cfg), Description=api.description or api_name(cfg), Body=definition(cfg),
        EndpointConfiguration=agw.EndpointConfiguration(Types=[api.endpoint]),
        # With a Body, API Gateway imports the API; the endpoint type of an import comes from
        # this parameter (AWS::ApiGateway::RestApi, EndpointConfiguration), or it is EDGE.
        Parameters={"endpointConfigurationTypes": api.endpoint}))
    st.output("RestApiId", Ref(rest), "ID of the REST API", export=True)
    st.output("ApiName", api_name(cfg), "Name of the REST API (CloudWatch dimension)")
    st.output("ApiRootResourceId", GetAtt(rest, "RootResourceId"), "ID of the API's root resource")
    st.output("ApiDomain", Sub("${RestApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}"),
              "Domain of the API's regional endpoint (CloudFront origin)")
    return st
