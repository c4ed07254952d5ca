"""Network stack: VPC over N AZs, public and private subnets, NAT, flow logs, Lambda security group."""
from __future__ import annotations

import ipaddress

from troposphere import GetAtt, GetAZs, Join, Ref, Select, Sub, ec2, iam

from infra import grants
from infra.actions import logs as alogs
from infra.builders.logs import log_group
from infra.config.schema import Config
from infra.naming import physical
from infra.stack import Stack


def subnet_cidrs(cidr: str, prefix: int, count: int) -> list[str]:
    """The first `count` subnets of `cidr`: public ones first, then private ones."""
    nets = ipaddress.IPv4Network(cidr).subnets(new_prefix=prefix)
    return [str(next(nets)) for _ in range(count)]


def build(cfg: Config) -> Stack:
    """VPC with DNS, IGW, public + private-with-egress subnets per AZ, NAT gateways, flow logs."""
    net = cfg.network
    st = Stack(cfg, "network", f"{physical(cfg)} network: VPC, subnets, NAT, flow logs")
    key_arn = st.param("KeyArn", "ARN of the system KMS key (encrypts the flow log group)")
    azs = net.availability_zones
    cidrs = subnet_cidrs(net.cidr, net.subnet_prefix, 2 * azs)

    vpc = st.add(ec2.VPC("Vpc", CidrBlock=net.cidr, EnableDnsHostnames=True, EnableDnsSupport=True))
    igw = st.add(ec2.InternetGateway("InternetGateway"))
    attach = st.add(ec2.VPCGatewayAttachment("InternetGatewayAttachment", VpcId=Ref(vpc),
                                              InternetGatewayId=Ref(igw)))
    public_rt = st.add(ec2.RouteTable("PublicRouteTable", VpcId=Ref(vpc)))
    st.add(ec2.Route("PublicDefaultRoute", RouteTableId=Ref(public_rt), DestinationCidrBlock="0.0.0.0/0",
                     GatewayId=Ref(igw), DependsOn=[attach.title]))

    public, private, nats, private_rts = [], [], [], []
    for i in range(azs):
        n = i + 1
        sub = st.add(ec2.Subnet(f"PublicSubnet{n}", VpcId=Ref(vpc), CidrBlock=cidrs[i],
                                AvailabilityZone=Select(i, GetAZs("")),
                                # Nothing here needs a public IP but the NAT gateways' EIPs.
                                MapPublicIpOnLaunch=False))
        st.add(ec2.SubnetRouteTableAssociation(f"PublicSubnet{n}RouteTableAssociation",
                                               SubnetId=Ref(sub), RouteTableId=Ref(public_rt)))
        public.append(sub)
    for i in range(net.nat_gateways):
        n = i + 1
        eip = st.add(ec2.EIP(f"NatEip{n}", Domain="vpc", DependsOn=[attach.title]))
        nats.append(st.add(ec2.NatGateway(f"NatGateway{n}", AllocationId=GetAtt(eip, "AllocationId"),
                                          SubnetId=Ref(public[i]))))
    for i in range(azs):
        n = i + 1
        sub = st.add(ec2.Subnet(f"PrivateSubnet{n}", VpcId=Ref(vpc), CidrBlock=cidrs[azs + i],
                                AvailabilityZone=Select(i, GetAZs("")), MapPublicIpOnLaunch=False))
        rt = st.add(ec2.RouteTable(f"PrivateRouteTable{n}", VpcId=Ref(vpc)))
        # With fewer NAT gateways than AZs, AZs share them round-robin (cheaper, less isolated).
        st.add(ec2.Route(f"PrivateDefaultRoute{n}", RouteTableId=Ref(rt), DestinationCidrBlock="0.0.0.0/0",
                         NatGatewayId=Ref(nats[i % len(nats)])))
        st.add(ec2.SubnetRouteTableAssociation(f"PrivateSubnet{n}RouteTableAssociation",
                                               SubnetId=Ref(sub), RouteTableId=Ref(rt)))
        private.append(sub)
        private_rts.append(rt)

    # Gateway endpoints: table and bucket traffic stays on the AWS network, costs nothing, and
    # does not depend on the NAT gateways.
    for service in ("dynamodb", "s3"):
        st.add(ec2.VPCEndpoint(f"{service.capitalize()}GatewayEndpoint", VpcId=Ref(vpc), VpcEndpointType="Gateway",
                               ServiceName=Sub(f"com.amazonaws.${{AWS::Region}}.{service}"),
                               RouteTableIds=[Ref(rt) for rt in private_rts]))

    sg = st.add(ec2.SecurityGroup(
        "LambdaSecurityGroup",
        GroupDescription=f"{physical(cfg)} Lambda functions: HTTPS out only",
        VpcId=Ref(vpc),
        # Functions only call AWS APIs and HTTPS endpoints: no other egress, no ingress at all.
        SecurityGroupEgress=[ec2.SecurityGroupRule(IpProtocol="tcp", FromPort=443, ToPort=443,
                                                   CidrIp="0.0.0.0/0", Description="HTTPS to AWS APIs")],
    ))

    flow_logs = st.add(log_group("FlowLogGroup", f"/vpc/{physical(cfg)}/flow-logs",
                                 net.flow_log_retention_days, key_arn), stateful=True)
    role = st.add(iam.Role(
        "FlowLogRole",
        AssumeRolePolicyDocument=grants.assume_role("vpc-flow-logs.amazonaws.com"),
        Policies=[iam.Policy(PolicyName="deliver-flow-logs", PolicyDocument=grants.document([
            grants.allow([alogs.CreateLogStream, alogs.PutLogEvents, alogs.DescribeLogStreams],
                         [GetAtt(flow_logs, "Arn")], "WriteFlowLogs"),
            # The service looks its log group up before delivering; the lookup lists groups.
            grants.allow([alogs.DescribeLogGroups], [grants.arn("logs", "log-group:*")], "FindFlowLogGroup"),
        ]))],
    ))
    st.add(ec2.FlowLog("VpcFlowLog", ResourceId=Ref(vpc), ResourceType="VPC", TrafficType="ALL",
                       LogDestinationType="cloud-watch-logs", LogGroupName=Ref(flow_logs),
                       DeliverLogsPermissionArn=GetAtt(role, "Arn")))

    st.output("VpcId", Ref(vpc), "ID of the VPC", export=True)
    st.output("PrivateSubnetIds", Join(",", [Ref(s) for s in private]), "Private subnets, comma-separated")
    st.output("LambdaSecurityGroupId", GetAtt(sg, "GroupId"), "Security group of the Lambda functions")
    return st
