"""The Mermaid diagram of each config: deterministic, grouped by nested stack, current in the README."""
from __future__ import annotations

import re
from pathlib import Path

from infra.config import load_config
from infra.diagram import embed, readme_blocks, render
from support.shipped import REPO, SHIPPED

README = (REPO / "README.md").read_text()


def chart(out_dir: Path, name: str) -> str:
    return (out_dir / name / "diagram.md").read_text().split("```mermaid\n", 1)[1].split("```", 1)[0]


def test_readme_shows_the_current_diagram_of_every_shipped_config(out_dir):
    blocks = readme_blocks(README)
    assert sorted(blocks) == sorted(p.stem for p in SHIPPED)
    for name, shown in blocks.items():
        assert shown == chart(out_dir, name), f"README diagram of {name} is stale: run `make diagrams`"


def test_one_box_per_nested_stack_with_what_placement_put_there(out_dir, generated):
    for cfg_path in SHIPPED:
        name = cfg_path.stem
        text = chart(out_dir, name)
        boxes = re.findall(r'subgraph stack_[\w]+\["([\w.-]+)"\]', text)
        stacks = set(generated[name]["manifest"]["templates"].values()) | {"global.json"}
        assert set(boxes) <= stacks and len(boxes) == len(set(boxes))
        for key, stack in generated[name]["manifest"]["placement"].items():
            kind, _, item = key.partition(".")
            prefix = {"functions": "fn", "tables": "table", "buckets": "bucket"}[kind]
            ident = f"{prefix}_{re.sub(r'[^A-Za-z0-9]', '_', item)}"
            box = text.split(f'subgraph stack_{re.sub(r"[^A-Za-z0-9]", "_", stack)}[', 1)[1].split("  end", 1)[0]
            assert f"    {ident}" in box, (name, key, stack)


def test_diagram_follows_the_request_path_and_the_grants():
    cfg = load_config(REPO / "config" / "catalog-api.toml")
    text = render(cfg, {"functions.users": "compute", "functions.products": "compute",
                        "tables.users": "data", "tables.products": "data", "buckets.failed-events": "data"})
    assert "clients --> waf --> stage --> restapi" in text
    assert 'path__users__id_["DELETE GET PUT /users/{id}"]' in text
    assert "fn_users -->|read-write| table_users" in text
    assert "fn_users -.->|failed events| bucket_failed_events" in text
    assert "alarms_compute -.-> topic" in text
    assert text == render(cfg, {"functions.users": "compute", "functions.products": "compute",
                                "tables.users": "data", "tables.products": "data",
                                "buckets.failed-events": "data"})  # deterministic


def test_embed_replaces_only_its_own_block():
    readme = "a\n<!-- diagram:x -->\nold\n<!-- /diagram:x -->\nb\n<!-- diagram:y -->\n<!-- /diagram:y -->\n"
    out = embed(readme, "x", "flowchart LR\n")
    assert out.startswith("a\n<!-- diagram:x -->\n```mermaid\nflowchart LR\n```\n<!-- /diagram:x -->\nb\n")
    assert out.endswith("<!-- diagram:y -->\n<!-- /diagram:y -->\n")
