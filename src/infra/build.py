"""From stage config to `out/<config>/`: templates, assets and the manifest the deployer reads."""
from __future__ import annotations

from pathlib import Path

from infra import quotas
from infra.assets import Asset, build_asset
from infra.config import Config, load_config
from infra.errors import UsageError, UserError
from infra.naming import physical, stack_name, tags
from infra.render import replace_dirs, to_json

STATEFUL_TYPES = ["AWS::DynamoDB::Table", "AWS::KMS::Key", "AWS::S3::Bucket",
                  "AWS::SecretsManager::Secret"]


def generate(cfg: Config) -> dict[str, bytes]:
    """Every file of one config's output directory, in memory (relative path -> bytes)."""
    from templates import edge_global, root  # templates import infra; keep infra importable alone

    root_dir = Path(cfg.root)
    assets: dict[str, Asset] = {}
    for fn in cfg.functions.values():
        if fn.source not in assets:
            assets[fn.source] = build_asset(root_dir, fn.source)
    kids = root.children(cfg, assets)
    top = root.build(cfg, kids)
    stacks = [("root.json", top)] + [(k.file, k.stack) for k in kids]
    global_stack = None
    if edge_global.needed(cfg):
        us_east_1 = edge_global.build(cfg)
        stacks.append((edge_global.FILE, us_east_1))
        # Each output of the us-east-1 stack fills the root parameter of the same name.
        global_stack = {"template": edge_global.FILE, "stack_name": physical(cfg, "global"),
                        "region": edge_global.REGION,
                        "outputs": {name: name for name in sorted(us_east_1.template.outputs)}}

    files: dict[str, bytes] = {}
    for name, stack in stacks:
        data = stack.template.to_dict()
        body = to_json(data).encode()
        quotas.check(f"{cfg.name}/{name}", data, body)
        files[name] = body
    for asset in assets.values():
        files[asset.key] = asset.data
    manifest = {
        "config": cfg.file,
        "name": cfg.name,
        "project": cfg.project.name,
        "stage": cfg.project.stage,
        "stack_name": stack_name(cfg),
        "region": cfg.project.region,
        "production": cfg.project.production,
        "root_template": "root.json",
        "templates": {k.logical_id: k.file for k in kids},
        "assets": [{"file": a.key, "key": a.key, "source": a.source} for a in sorted(assets.values(), key=lambda a: a.source)],
        "root_parameters": dict(sorted((name, p.properties.get("Description", ""))
                                       for name, p in top.template.parameters.items())),
        "global": global_stack,
        "stateful_types": STATEFUL_TYPES,
        "tags": tags(cfg),
        "termination_protection": cfg.project.production,
    }
    files["manifest.json"] = to_json(manifest).encode()
    return files


def build_configs(paths: list[Path], out_root: Path) -> list[Path]:
    """Validate and generate every config first, then write each `out_root/<name>/` atomically.

    Nothing is written unless every config is valid and every template within quotas.
    """
    configs = [load_config(p) for p in paths]
    names = [c.name for c in configs]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise UsageError(f"two configs would both write out/{dupes[0]}/: config file names must be unique.")
    outputs = [(cfg, generate(cfg)) for cfg in configs]
    trees = {out_root / cfg.name: files for cfg, files in outputs}
    try:
        replace_dirs(trees)
    except OSError as exc:
        where = getattr(exc, "filename", None) or out_root
        raise UserError(f"cannot write {where}: {exc.strerror or exc}. Choose another --out directory.",
                        exit_code=2) from None
    return list(trees)


def build_config(config_path: Path, out_root: Path) -> Path:
    """Validate one config and write `out_root/<config stem>/`; return that directory."""
    return build_configs([Path(config_path)], Path(out_root))[0]
