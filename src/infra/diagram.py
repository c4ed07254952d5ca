"""A picture of a system: a Mermaid flowchart, one box per nested stack.

Callers -> CloudFront -> web ACLs -> REST API -> its paths -> functions -> tables, buckets, the
secret and the key; alarms -> topic; the pipeline. Written to `out/<config>/diagram.md` and
embedded in the README for the shipped configs. GitHub, GitLab and VS Code render Mermaid as it
is; the text is deterministic (sorted, named after the config), so it can be snapshot-tested.
"""
from __future__ import annotations

import re
from pathlib import Path

from infra.config.schema import Config
from infra.openapi import api_name

BEGIN, END = "<!-- diagram:{name} -->", "<!-- /diagram:{name} -->"


def _id(*parts: str) -> str:
    return "_".join(re.sub(r"[^A-Za-z0-9]", "_", p) for p in parts)


def _label(text: str) -> str:
    return '"' + text.replace('"', "'") + '"'


def render(cfg: Config, placement: dict[str, str]) -> str:
    """The Mermaid flowchart of `cfg`, its functions, tables and buckets in the stacks
    `placement` gives them."""
    boxes: dict[str, list[str]] = {}
    edges: list[str] = []

    def node(stack: str, ident: str, text: str, shape: str = "box") -> str:
        left, right = {"box": ("[", "]"), "db": ("[(", ")]"), "round": ("(", ")"), "hex": ("{{", "}}")}[shape]
        boxes.setdefault(stack, []).append(f"    {ident}{left}{_label(text)}{right}")
        return ident

    key = node("security", "key", "KMS key (rotated)", "hex")
    secret = node("security", "secret", f"secret {cfg.secret.name}", "hex") if cfg.secret else None
    queue = node("security", "dlq", "dead-letter queue", "db") if cfg.dead_letter_queue else None
    pool = None
    if cfg.api and cfg.api.auth.cognito and not cfg.api.auth.cognito.user_pool_arn and any(
            r.auth == "COGNITO" for r in cfg.api.routes):
        pool = node("security", "userpool", "Cognito user pool", "hex")
    topic = None
    if cfg.monitoring and cfg.monitoring.topic:
        topic = node("monitoring", "topic", "alarm topic (SNS)", "round")
    if cfg.network:
        node("network", "vpc", f"VPC {cfg.network.cidr}, {cfg.network.availability_zones} AZs")

    front = "clients"
    edges.append('  clients(("callers"))')
    if cfg.edge:
        cf = node("edge", "cdn", "CloudFront distribution")
        if cfg.firewall:
            node("global", "edge_waf", "CloudFront web ACL (us-east-1)")
            edges.append("  clients --> edge_waf --> cdn")
        else:
            edges.append("  clients --> cdn")
        front = cf
    api = None
    if cfg.api:
        api = node("api", "restapi", f"REST API {api_name(cfg)}")
        node("api-stage", "stage", f"stage {cfg.project.stage}")
        if cfg.firewall:
            node("firewall", "waf", "regional web ACL")
            edges.append(f"  {front} --> waf --> stage --> {api}")
        else:
            edges.append(f"  {front} --> stage --> {api}")
        if pool:
            edges.append(f"  {api} -. verifies tokens .-> {pool}")
        paths: dict[str, dict[str, list[str]]] = {}
        for route in cfg.api.routes:
            paths.setdefault(route.path, {}).setdefault(route.function, []).append(route.method)
        for path in sorted(paths):
            methods = sorted({m for ms in paths[path].values() for m in ms})
            pid = node("api", _id("path", path), f"{' '.join(methods)} {path}")
            edges.append(f"  {api} --> {pid}")
            for target, fn_methods in sorted(paths[path].items()):
                label = "" if len(paths[path]) == 1 else f"|{' '.join(sorted(fn_methods))}|"
                edges.append(f"  {pid} -->{label} {_id('fn', target)}")
    for name, fn in sorted(cfg.functions.items()):
        fid = node(placement.get(f"functions.{name}", "compute"), _id("fn", name), f"λ {name} ({fn.runtime})")
        for table, level in sorted(fn.access.tables.items()):
            edges.append(f"  {fid} -->|{level}| {_id('table', table)}")
        for bucket, level in sorted(fn.access.buckets.items()):
            edges.append(f"  {fid} -->|{level}| {_id('bucket', bucket)}")
        if fn.access.secret and secret:
            edges.append(f"  {fid} -->|{fn.access.secret}| {secret}")
        if fn.on_failure_bucket:
            edges.append(f"  {fid} -.->|failed events| {_id('bucket', fn.on_failure_bucket)}")
        edges.append(f"  {fid} -.-> {key}")
        if queue and cfg.functions[name].dead_letter_queue:
            edges.append(f"  {fid} -.->|async failures| {queue}")
    for name in sorted(cfg.tables):
        node(placement.get(f"tables.{name}", "data"), _id("table", name), f"table {name}", "db")
    for name in sorted(cfg.buckets):
        node(placement.get(f"buckets.{name}", "data"), _id("bucket", name), f"bucket {name}", "db")
    if topic:
        alarms = cfg.monitoring.alarms
        watched = {"functions.": alarms.function_errors, "tables.": alarms.table_throttles}
        alarmed = sorted({s for k, s in placement.items() if any(k.startswith(p) and on for p, on in watched.items())})
        if cfg.api and (alarms.api_4xx or alarms.api_5xx or alarms.api_latency_ms):
            alarmed.append("api-stage")
        for stack in alarmed:
            aid = node(stack, _id("alarms", stack), "alarms", "round")
            edges.append(f"  {aid} -.-> {topic}")
    if cfg.monitoring and cfg.monitoring.dashboard:
        node("dashboard", "dashboard", "CloudWatch dashboard", "round")
    if cfg.pipeline:
        node("pipeline", "pipeline", f"CodePipeline: {cfg.pipeline.repository} ({cfg.pipeline.branch})")

    lines = ["flowchart LR"]
    for stack in sorted(boxes):
        lines.append(f"  subgraph {_id('stack', stack)}[{_label(stack + '.json')}]")
        lines += boxes[stack]
        lines.append("  end")
    lines += edges
    return "\n".join(lines) + "\n"


def markdown(cfg: Config, placement: dict[str, str]) -> str:
    """`diagram.md`: a title and the flowchart in a mermaid block."""
    return (f"# {cfg.name}: {cfg.project.name}-{cfg.project.stage} in {cfg.project.region}\n\n"
            "One box per nested stack (generated by `generate.py templates`; do not edit).\n\n"
            f"```mermaid\n{render(cfg, placement)}```\n")


def embed(readme: str, name: str, chart: str) -> str:
    """`readme` with the block between the config's markers replaced by `chart` (a mermaid block)."""
    begin, end = BEGIN.format(name=name), END.format(name=name)
    if begin not in readme or end not in readme:
        raise ValueError(f"README has no {begin} ... {end} markers")
    head, rest = readme.split(begin, 1)
    _, tail = rest.split(end, 1)
    return f"{head}{begin}\n```mermaid\n{chart}```\n{end}{tail}"


def readme_blocks(readme: str) -> dict[str, str]:
    """Config name -> the flowchart the README shows for it."""
    found = {}
    for match in re.finditer(r"<!-- diagram:([\w.-]+) -->\n```mermaid\n(.*?)```\n<!-- /diagram:\1 -->", readme, re.S):
        found[match.group(1)] = match.group(2)
    return found


def update_readme(readme: Path, out: Path) -> list[str]:
    """Copy each generated `out/<config>/diagram.md` chart into the README; names updated."""
    text = readme.read_text()
    changed = []
    for name in sorted(set(re.findall(r"<!-- diagram:([\w.-]+) -->", text))):
        source = out / name / "diagram.md"
        chart = source.read_text().split("```mermaid\n", 1)[1].split("```", 1)[0]
        new = embed(text, name, chart)
        if new != text:
            changed.append(name)
            text = new
    readme.write_text(text)
    return changed
