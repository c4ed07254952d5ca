"""The configs that ship with the project."""
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SHIPPED = sorted((REPO / "config").glob("*.toml"))
