"""Node.js dependencies: `npm ci` from the function's lockfile, then one esbuild bundle.

`npm ci --omit=dev --ignore-scripts` installs exactly the locked runtime dependencies into a
tree of the build cache, once per lockfile (a change to the function's own code reuses it, as
SAM's cached builds do: npm ci is most of a rebuild's time). The bundle is made in a staging copy
of the source folder whose node_modules is a link to that tree (the user's own node_modules, which
holds whatever was last installed there, is never read); esbuild runs with --preserve-symlinks, so
it sees the same paths, and writes the same bytes, as with node_modules installed in place. It
bundles the handler into one tree-shaken file for the runtime's Node.js version: ESM for .mjs (and
.js under "type": "module"), CommonJS otherwise. The AWS SDK v3 stays external (the runtime
provides it) unless the function pins its own under `dependencies`.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

from infra.bundle.recipe import Recipe
from infra.bundle.tools import BuildError, ToolFailed, esbuild_binary, npm_binary, run

# In an ESM bundle, CommonJS dependencies that call require() (for Node.js built-ins) need one.
ESM_REQUIRE_BANNER = ("import { createRequire as __bundleCreateRequire } from 'node:module'; "
                      "const require = __bundleCreateRequire(import.meta.url);")
EXTENSIONS = (".mjs", ".js", ".cjs")


def node_target(runtime: str) -> str:
    """'nodejs24.x' -> 'node24' (esbuild's --target)."""
    return "node" + re.sub(r"\D", "", runtime.removeprefix("nodejs").removesuffix(".x"))


def entry(source: Path, handler: str) -> Path:
    """The handler's module file, resolved as the runtime does (.js, .mjs, .cjs)."""
    module = handler.rsplit(".", 1)[0]
    for ext in (".js", ".mjs", ".cjs"):
        if (source / f"{module}{ext}").is_file():
            return source / f"{module}{ext}"
    raise FileNotFoundError(f"{module}.mjs")


def output_format(source: Path, module: Path) -> str:
    if module.suffix == ".mjs":
        return "esm"
    if module.suffix == ".cjs":
        return "cjs"
    try:
        kind = json.loads((source / "package.json").read_text(encoding="utf-8")).get("type")
    except (OSError, ValueError, AttributeError):
        kind = None
    return "esm" if kind == "module" else "cjs"


def npm_ci(folder: Path, what: str, *, dev: bool) -> None:
    """Install `folder`'s locked dependencies into `folder`/node_modules; install scripts never run."""
    omit = [] if dev else ["--omit=dev"]
    try:
        run([npm_binary(), "ci", *omit, "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=folder, what=f"{what}: npm ci", network=True)
    except ToolFailed as exc:
        if "in sync" in exc.output:
            raise BuildError(f"{what}: package.json and package-lock.json disagree, so npm ci refuses to install. "
                             "Fix: run `npm install` in the function's folder and commit package-lock.json.",
                             exit_code=2) from None
        raise


def install_for_lambda(recipe: Recipe, tree: Path, what: str) -> None:
    """The locked runtime dependencies in `tree`/node_modules (a build-cache tree)."""
    from shutil import copyfile  # here: shutil (with bz2 and lzma) is for builds, and a cache hit builds nothing

    for path in recipe.inputs:
        copyfile(path, tree / path.name)
    npm_ci(tree, what, dev=False)


def bundle(recipe: Recipe, files: list[tuple[str, Path]], handler: str, runtime: str, source_map: bool,
           staging: Path, what: str, node_modules: Path) -> tuple[list[tuple[str, Path]], list[tuple[str, int]]]:
    """Build in `staging` (empty) against the installed `node_modules`: the zip entries (name,
    file) and bytes per package in the bundle."""
    from shutil import copyfile  # see install_for_lambda

    for rel, path in files:
        if rel == "node_modules" or rel.startswith("node_modules/"):
            continue  # never the user's own install (source_entries leaves it out already)
        (staging / rel).parent.mkdir(parents=True, exist_ok=True)
        copyfile(path, staging / rel)
    for path in recipe.inputs:
        copyfile(path, staging / path.name)
    (staging / "node_modules").symlink_to(node_modules.resolve(), target_is_directory=True)
    module = entry(staging, handler)
    fmt = output_format(staging, module)
    rel = module.relative_to(staging).as_posix()
    out_name = rel.rsplit(".", 1)[0] + (".mjs" if fmt == "esm" else ".cjs" if module.suffix == ".cjs" else ".js")
    dist = staging / ".dist"
    argv = [esbuild_binary(), rel, "--bundle", "--platform=node", f"--target={node_target(runtime)}",
            f"--format={fmt}", f"--outfile={dist.name}/{out_name}", "--metafile=.meta.json", "--charset=utf8",
            "--log-level=error", "--preserve-symlinks"]
    if fmt == "esm":
        # Prefer packages' ESM builds: esbuild tree-shakes ES modules only.
        argv += ["--main-fields=module,main", f"--banner:js={ESM_REQUIRE_BANNER}"]
    if not recipe.pins_aws_sdk:
        argv.append("--external:@aws-sdk/*")
    if source_map:
        argv.append("--sourcemap")
    try:
        run(argv, cwd=staging, what=f"{what}: esbuild")
    except ToolFailed as exc:
        raise unresolved_import(exc.output, recipe, what) or exc from None
    outputs = sorted(p for p in dist.rglob("*") if p.is_file())
    entries = [(p.relative_to(dist).as_posix(), p) for p in outputs]
    sizes = package_sizes(staging / ".meta.json")
    native = native_addons([name for name, _ in sizes], node_modules)
    if native:
        raise BuildError(f"{what}: bundles {', '.join(native)}, with a native addon (compiled .node code): a bundle "
                         "holds JavaScript only, so the function would fail on Lambda when it loads it, and this "
                         "builder compiles nothing for Lambda's OS. Fix: use a pure-JavaScript package instead "
                         "(such as bcryptjs for bcrypt), or a Lambda layer built for Amazon Linux.", exit_code=2)
    return entries, sizes


def native_addons(packages: list[str], node_modules: Path) -> list[str]:
    """The bundled packages that ship or build a native addon (a .node file, or a binding.gyp)."""
    native = []
    for name in packages:
        folder = node_modules / name
        if name.startswith("(") or not folder.is_dir():
            continue
        if (folder / "binding.gyp").is_file() or any(p.is_file() for p in folder.rglob("*.node")):
            native.append(name)
    return sorted(native)


# Read only from a failed bundle's output: compiled (and cached by `re`) then, not at every import.
_UNRESOLVED = r'Could not resolve "([^"]+)"'
# esbuild's location of the import it could not resolve: "    node_modules/x/index.js:3:17:".
_LOCATION = r"(?m)^\s+(\S+?):\d+:\d+:\s*$"


def unresolved_import(output: str, recipe: Recipe, what: str) -> BuildError | None:
    """esbuild's "Could not resolve" said as what it is in the function's own declaration (exit 2):
    a missing file, a devDependency (never bundled), a package package.json does not name, or an
    entry point a dependency does not have. An import inside a dependency is left as esbuild said it."""
    found = re.search(_UNRESOLVED, output)
    if not found:
        return None
    where = re.compile(_LOCATION).search(output, found.end())  # (re caches the compiled pattern)
    if where and "node_modules/" in where.group(1):
        return None   # a dependency's own import: not the function's code; esbuild's words stand
    spec = found.group(1)
    if spec.startswith((".", "/")):
        return BuildError(f"{what}: its code imports '{spec}', which does not exist. Fix: correct the import's path.",
                          exit_code=2)
    parts = spec.split("/")
    package = "/".join(parts[:2]) if spec.startswith("@") else parts[0]
    manifest = json.loads((recipe.source / "package.json").read_text(encoding="utf-8"))
    if package in (manifest.get("dependencies") or {}):
        return BuildError(f"{what}: its code imports '{spec}', and the installed {package} (a dependency, at the "
                          "version package-lock.json pins) has no such entry point. Fix: import a path the "
                          f"package exports (see its package.json 'exports'), or update {package} with npm.",
                          exit_code=2)
    if package in (manifest.get("devDependencies") or {}):
        return BuildError(f"{what}: its code imports '{spec}', a devDependency, and only dependencies are bundled "
                          f"for Lambda. Fix: move {package} to dependencies in package.json and run `npm install` "
                          "in the function's folder, or stop importing it.", exit_code=2)
    return BuildError(f"{what}: its code imports '{spec}', which package.json does not declare. Fix: run `npm install "
                      f"{package}` in the function's folder (it is added to dependencies and the lockfile), or remove "
                      "the import.", exit_code=2)


def package_sizes(metafile: Path) -> list[tuple[str, int]]:
    """Bytes each package (or the function's own code) contributes to the bundle."""
    meta = json.loads(metafile.read_text())
    sizes: dict[str, int] = {}
    for output in meta.get("outputs", {}).values():
        for path, info in output.get("inputs", {}).items():
            name = "(function code)"
            if "node_modules/" in path:
                rest = path.rsplit("node_modules/", 1)[1].split("/")
                name = "/".join(rest[:2]) if rest[0].startswith("@") else rest[0]
            sizes[name] = sizes.get(name, 0) + int(info.get("bytesInOutput", 0))
    return sorted(sizes.items(), key=lambda kv: (-kv[1], kv[0]))
