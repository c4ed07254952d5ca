"""Function code with its dependencies: detected from the source folder (recipe), installed for
Lambda's runtime and architecture (python, node), zipped reproducibly and cached (build).

Nothing here is imported by the config layer except `recipe`, which reads files only.
"""
